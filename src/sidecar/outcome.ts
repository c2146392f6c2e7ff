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
  local: ReadonlyMap<number, string> = new Map(),
): Outcome {
  const perRecipient = new Map<string, Verdict>();
  let whole: Verdict | undefined;
  let code: number | null = null;
  let reply = '';
  if (result?.ok) {
    code = Number.parseInt(result.response, 10) || 250;
    reply = classify({ responseCode: code, response: result.response }, p.secrets).reply;
    for (const e of result.rejectedErrors) {
      const to = recipientOf(e);
      if (to !== undefined) perRecipient.set(to, classify(e, p.secrets));
    }
  } else if (result) {
    const v = classify(result.error, p.secrets);
    ({ code, reply } = v);
    const list = (result.error as { rejectedErrors?: unknown[] }).rejectedErrors;
    // "All recipients were rejected": each has its own reply. Anything else failed the whole message.
    if (Array.isArray(list) && list.length > 0) {
      for (const e of list) {
        const to = recipientOf(e);
        if (to !== undefined) perRecipient.set(to, classify(e, p.secrets));
      }
    } else whole = v;
  } else {
    reply = [...local.values()][0] ?? 'no recipient could be sent to';
  }

  const recipients: RecipientOutcome[] = m.pending.map((r, i) => {
    const refused = local.get(i);
    if (refused !== undefined) return { n: r.n, state: 'abandoned', code: null, reply: refused };
    const v = perRecipient.get(envelope[i]!) ?? whole;
    if (!v) return { n: r.n, state: 'sent', code, reply };
    return { n: r.n, state: v.retry ? 'pending' : 'abandoned', code: v.code, reply: v.reply };
  });

  const n = m.attempts;
  const base = { attempt: { ...attempt, code, reply }, configRevision: p.configRevision };
  const pending = recipients.filter((r) => r.state === 'pending');
  if (pending.length > 0 && n >= p.maxAttempts) {
    const why = `gave up after ${n} attempt${n === 1 ? '' : 's'} (delivery.maxAttempts)`;
    for (const r of pending) Object.assign(r, { state: 'abandoned', reply: `${why}: ${r.reply}` });
  }
  const stillPending = recipients.filter((r) => r.state === 'pending').length;
  const delivered = m.delivered + recipients.filter((r) => r.state === 'sent').length;
  const refused = recipients.filter((r) => r.state === 'abandoned').length;
  if (stillPending > 0) {
    const delay = p.backoffMs(n);
    const some =
      stillPending < m.pending.length ? ` for ${stillPending} of ${m.pending.length} recipients` : '';
    return {
      ...base,
      state: 'deferred',
      recipients,
      nextAttemptAt: p.now + delay,
      reason: `attempt ${n} of ${p.maxAttempts} failed${some}; retrying in ${Math.ceil(delay / 1000)}s`,
    };
  }
  if (delivered > 0) {
    return {
      ...base,
      state: 'sent',
      recipients,
      ...(refused ? { reason: `${refused} recipient${refused === 1 ? '' : 's'} refused for good` } : {}),
    };
  }
  const gaveUp = n >= p.maxAttempts && (whole?.retry ?? [...perRecipient.values()].some((v) => v.retry));
  return {
    ...base,
    state: 'abandoned',
    recipients,
    reason: gaveUp
      ? `gave up after ${n} attempt${n === 1 ? '' : 's'} (delivery.maxAttempts)`
      : code !== null
        ? `permanent failure: the server answered ${code}`
        : `permanent failure: ${reply}`,
  };
}
