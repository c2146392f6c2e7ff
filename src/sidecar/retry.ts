/**
 * What one failed attempt means: retry later (4xx replies, network, TLS and login failures) or give
 * up now (5xx replies to the message), and when to retry: exponential backoff with jitter, capped.
 *
 * Login and TLS failures are retried even when the server answered 5xx (e.g. `535`): they are a
 * property of the config, not of the message, and a corrected config (which the controller only
 * publishes after a probe passes) delivers the waiting mail instead of having thrown it away.
 *
 * @module
 */
import { redactSecrets } from '../runtime/redact.ts';

/** How to treat a failure. */
export type Verdict =
  | { retry: true; code: number | null; reply: string }
  | { retry: false; code: number; reply: string };

/** The fields of a nodemailer error this module reads. */
interface MailerError {
  message?: string;
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

const CONFIG_LEVEL = new Set(['EAUTH', 'ETLS', 'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROTOCOL']);

/**
 * Classifies an error from a send. `secrets` are removed from the recorded reply, in every form a
 * server could echo them (plain, percent-encoded, base64).
 */
export function classify(err: unknown, secrets: ReadonlyArray<string | undefined>): Verdict {
  const e = (err ?? {}) as MailerError;
  const code = typeof e.responseCode === 'number' ? e.responseCode : null;
  const text = e.response ?? e.message ?? String(err);
  const prefix = e.code && code === null ? `${e.code}: ` : '';
  const reply = redactSecrets(`${prefix}${text}`, secrets).slice(0, 1000);
  if (code !== null && code >= 500 && code < 600 && !CONFIG_LEVEL.has(e.code ?? '')) {
    return { retry: false, code, reply };
  }
  return { retry: true, code, reply };
}

/** Backoff settings. */
export interface BackoffPolicy {
  /** Delay before the second attempt; doubles each time. */
  baseMs: number;
  /** Upper bound of any delay (`delivery.maxBackoff`). */
  maxMs: number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failures: `min(max, base·2^(attempt-1))`, then
 * "equal jitter" (a random point in its upper half), so retries of a burst spread out but never come
 * sooner than half the nominal delay.
 */
export function backoffMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Secrets of an endpoint in the forms a server may echo: the password, and the AUTH PLAIN blob. */
export function secretsOf(username?: string, password?: string): string[] {
  if (!password) return [];
  // The AUTH PLAIN blob first: the password's own base64 can be a substring of it.
  const out: string[] = [];
  if (username !== undefined) out.push(Buffer.from(`\0${username}\0${password}`).toString('base64'));
  out.push(password);
  return out;
}
