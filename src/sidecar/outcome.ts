/**
 * What one attempt means for each recipient and for the message. Pure, so the rules are tested as a
 * table:
 *
 * - A recipient the upstream took (2xx to RCPT, then to DATA) is `sent`.
 * - A recipient refused with 4xx at RCPT (greylisting, `452` too many recipients, a rate limit), or
 *   caught in a failure of the whole message that is worth retrying, stays `pending`: the next
 *   attempt, after the message's backoff, goes to the pending recipients only.
 * - A recipient refused with 5xx (or in a 5xx failure of the whole message) is `abandoned` with the
 *   server's reply.
 * - The message is `deferred` while any recipient is pending, `sent` when none is and at least one
 *   was delivered, `abandoned` when none was. When `delivery.maxAttempts` is spent, the recipients
 *   still pending are abandoned.
 *
 * @module
 */
import { classify, type Verdict } from './retry.ts';
import type { Attempt, ClaimedMessage, Outcome, RecipientOutcome } from './types.ts';

/** What nodemailer reported for the attempt. */
export type SendResult =
  | { ok: true; response: string; rejectedErrors: unknown[] }
  | { ok: false; error: unknown };

export interface OutcomePolicy {
  maxAttempts: number;
  /** Delay before the next attempt after `n` attempts. */
  backoffMs: (n: number) => number;
  now: number;
  configRevision: string;
  secrets: ReadonlyArray<string | undefined>;
}

/** The recipient a nodemailer per-recipient error is about. */
function recipientOf(e: unknown): string | undefined {
  const r = (e as { recipient?: unknown } | undefined)?.recipient;
  return typeof r === 'string' ? r : undefined;
}

/** The verdict on each recipient a list of nodemailer's per-recipient errors names. */
function verdicts(list: unknown[], secrets: OutcomePolicy['secrets']): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  for (const e of list) {
    const to = recipientOf(e);
    if (to !== undefined) out.set(to, classify(e, secrets));
  }
  return out;
}

/**
 * Decides the outcome of an attempt. `envelope[i]` is the address sent for `m.pending[i]` (domains
 * in ASCII form); `local` holds recipients refused before sending (index into `m.pending` → reply).
 */
export function decideOutcome(
  m: ClaimedMessage,
  envelope: string[],
  result: SendResult | undefined,
  attempt: Omit<Attempt, 'code' | 'reply'>,
  p: OutcomePolicy,
  local: ReadonlyMap<number, string> = NONE,
): Outcome {
  // Per-recipient verdicts exist only when the server refused some: most attempts need no Map.
  let perRecipient: Map<string, Verdict> | undefined;
  let whole: Verdict | undefined;
  let code: number | null = null;
  let reply = '';
  if (result?.ok) {
    code = Number.parseInt(result.response, 10) || 250;
    reply = classify({ responseCode: code, response: result.response }, p.secrets).reply;
    if (result.rejectedErrors.length > 0) perRecipient = verdicts(result.rejectedErrors, p.secrets);
  } else if (result) {
    const v = classify(result.error, p.secrets);
    ({ code, reply } = v);
    const list = (result.error as { rejectedErrors?: unknown[] }).rejectedErrors;
    // "All recipients were rejected": each has its own reply. Anything else failed the whole message.
    if (Array.isArray(list) && list.length > 0) perRecipient = verdicts(list, p.secrets);
    else whole = v;
  } else {
    reply = [...local.values()][0] ?? 'no recipient could be sent to';
  }

  const recipients: RecipientOutcome[] = m.pending.map((r, i) => {
    const refused = local.get(i);
    if (refused !== undefined) return { n: r.n, state: 'abandoned', code: null, reply: refused };
    const v = perRecipient?.get(envelope[i]!) ?? whole;
    if (!v) return { n: r.n, state: 'sent', code, reply };
    return { n: r.n, state: v.retry ? 'pending' : 'abandoned', code: v.code, reply: v.reply };
  });

  const n = m.attempts;
  const spent = n >= p.maxAttempts;
  // One pass: the pending ones are abandoned when the attempts are spent; the rest are counted.
  let stillPending = 0;
  let sent = 0;
  let refused = 0;
  for (const r of recipients) {
    if (r.state === 'pending' && spent) {
      r.state = 'abandoned';
      r.reply = `gave up after ${n} attempt${n === 1 ? '' : 's'} (delivery.maxAttempts): ${r.reply}`;
    }
    if (r.state === 'pending') stillPending++;
    else if (r.state === 'sent') sent++;
    else refused++;
  }
  const delivered = m.delivered + sent;
  const done = { ...attempt, code, reply };
  if (stillPending > 0) {
    const delay = p.backoffMs(n);
    const some =
      stillPending < m.pending.length ? ` for ${stillPending} of ${m.pending.length} recipients` : '';
    return {
      attempt: done,
      configRevision: p.configRevision,
      state: 'deferred',
      recipients,
      nextAttemptAt: p.now + delay,
      reason: `attempt ${n} of ${p.maxAttempts} failed${some}; retrying in ${Math.ceil(delay / 1000)}s`,
    };
  }
  if (delivered > 0) {
    const outcome: Outcome = { attempt: done, configRevision: p.configRevision, state: 'sent', recipients };
    if (refused) outcome.reason = `${refused} recipient${refused === 1 ? '' : 's'} refused for good`;
    return outcome;
  }
  const gaveUp =
    spent && (whole?.retry ?? (perRecipient ? [...perRecipient.values()].some((v) => v.retry) : false));
  return {
    attempt: done,
    configRevision: p.configRevision,
    state: 'abandoned',
    recipients,
    reason: gaveUp
      ? `gave up after ${n} attempt${n === 1 ? '' : 's'} (delivery.maxAttempts)`
      : code !== null
        ? `permanent failure: the server answered ${code}`
        : `permanent failure: ${reply}`,
  };
}

/** No recipient refused before sending (shared: never written to). */
const NONE: ReadonlyMap<number, string> = new Map();
