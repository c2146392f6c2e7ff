/**
 * One delivery attempt: reads the payload from the queue, composes it with the config snapshot the
 * attempt started with, sends it to the recipients still pending, and decides the outcome
 * ({@link decideOutcome}). A send that has not finished by the send timeout (plus a margin) is
 * recorded as failed at once; the payload is let go only when nodemailer lets go of it.
 *
 * Addresses: domains go out in their ASCII (IDNA) form; a non-ASCII local part needs the upstream's
 * SMTPUTF8 extension (nodemailer asks for it when the server offers it). Such a message is never
 * sent before the sidecar knows whether the upstream offers it (see smtputf8.ts): when it does not,
 * the recipient is refused with a reply that says so; while nobody could ask, the attempt fails as
 * a whole and is retried.
 *
 * @module
 */
import { domainToASCII } from 'node:url';
import type { Logger } from '../runtime/logger.ts';
import { type Composed, composeJson, composeRaw } from './compose.ts';
import type { ActiveConfig } from './config.ts';
import { PAYLOAD_PART } from './limits.ts';
import { mailComposer } from './mail-libs.ts';
import { storedJsonMessage } from './message.ts';
import { buildSimpleMessage } from './mime.ts';
import { decideOutcome, type SendResult } from './outcome.ts';
import { backoffMs } from './retry.ts';
import { asciiLocalPart, learnSmtputf8, type Smtputf8State } from './smtputf8.ts';
import type { QueueStore } from './store.ts';
import { storedJson, storedRaw } from './stored-message.ts';
import type { ClaimedMessage, Outcome } from './types.ts';
import type { MimeTree, Outgoing, SentInfo, Upstream } from './upstream.ts';

/** One config and the connection pool built from it, and what its upstream offers (SMTPUTF8). */
export interface Snapshot extends Smtputf8State {
  active: ActiveConfig;
  transporter: Upstream;
  secrets: string[];
  inFlight: number;
  retired: boolean;
}

export interface SendContext {
  store: QueueStore;
  logger: Logger;
  retryBaseMs: number;
  sendTimeoutMs: number;
}

/** Printable ASCII only: such an address goes out as it is. */
const PRINTABLE = /^[\x20-\x7e]*$/;

/** The address with its domain in ASCII form; `local` tells whether the local part is ASCII. */
export function envelopeForm(address: string): { address: string; asciiLocal: boolean } {
  const at = address.lastIndexOf('@');
  // The usual address (all ASCII) is its own envelope form: no slices, no new string.
  if (at >= 0 && PRINTABLE.test(address)) return { address, asciiLocal: true };
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const ascii = PRINTABLE.test(domain) ? domain : domainToASCII(domain) || domain;
  return { address: `${local}@${ascii}`, asciiLocal: asciiLocalPart(address) };
}

/** No recipient refused before sending (shared: never written to). */
const NONE_REFUSED: ReadonlyMap<number, string> = new Map();

const SMTPUTF8_LINE = /^SMTPUTF8\b/i;

/** Whether an EHLO reply offers SMTPUTF8, read once per reply (a connection's lines, kept by nodemailer). */
const offersSmtputf8 = new WeakMap<object, boolean>();

function smtputf8In(ehlo: unknown[]): boolean {
  let offered = offersSmtputf8.get(ehlo);
  if (offered === undefined) {
    offered = ehlo.some((l) => SMTPUTF8_LINE.test(String(l)));
    offersSmtputf8.set(ehlo, offered);
  }
  return offered;
}

const NO_SMTPUTF8 =
  'not sent: the address has a non-ASCII local part, which needs SMTPUTF8, and the upstream server does not offer SMTPUTF8';

const NOT_KNOWN =
  'not sent yet: an address has a non-ASCII local part, which needs SMTPUTF8, and whether the upstream server offers SMTPUTF8 is not known yet';

/**
 * Reads the payload and composes the message. Its own function, so that the payload of a JSON
 * message (and its text before parsing) is garbage once composed instead of living on through the
 * send in the caller's frame.
 */
function compose(
  m: ClaimedMessage,
  to: string[],
  config: ActiveConfig['config'],
  store: QueueStore,
): Outgoing {
  const c = composed(m, to, config, store);
  // The sender's domain in its ASCII form, as the recipients' (nodemailer's envelope did the same).
  const envelope = { from: envelopeForm(c.envelope.from).address, to: c.envelope.to };
  return { envelope, messageId: c.messageId, body: c.raw ?? mimeOf(c) };
}

function composed(
  m: ClaimedMessage,
  to: string[],
  config: ActiveConfig['config'],
  store: QueueStore,
): Composed {
  // A large message is read back a part at a time while it is sent (stored-message.ts).
  if (m.size > PAYLOAD_PART) {
    const read = (start: number, end: number) => store.payloadParts(m.seq, m.size, start, end);
    return m.kind === 'json'
      ? composeJson(storedJson(read, m.size), to, m.id, m.createdAt, config)
      : composeRaw(storedRaw(read, m.size), to, m.id, m.createdAt, config);
  }
  const payload = m.payload ?? store.payload(m.seq, m.size);
  if (!payload)
    throw Object.assign(new Error('the message body is missing from the queue'), { responseCode: 554 });
  return m.kind === 'json'
    ? composeJson(storedJsonMessage(payload), to, m.id, m.createdAt, config)
    : composeRaw(payload, to, m.id, m.createdAt, config, m.head);
}

/** A composed JSON message as bytes, or (a large body, an unusual header) as nodemailer's MIME tree. */
function mimeOf(c: Composed): Buffer | MimeTree {
  return buildSimpleMessage(c) ?? new (mailComposer())(c).compile();
}

/** Sends one claimed message; `settled` resolves when nodemailer no longer holds it. */
export async function sendOne(
  m: ClaimedMessage,
  snap: Snapshot,
  ctx: SendContext,
): Promise<{ outcome: Outcome; settled: Promise<void> }> {
  const { config } = snap.active;
  const startedAt = Date.now();
  const t0 = performance.now();
  const forms = m.pending.map((r) => envelopeForm(r.address));
  const utf8 = forms.some((f) => !f.asciiLocal);
  if (utf8 && snap.smtputf8 === undefined) await learnSmtputf8(snap, snap.active);
  let local = NONE_REFUSED;
  if (utf8 && snap.smtputf8 === false) {
    const refused = new Map<number, string>();
    forms.forEach((f, i) => {
      if (!f.asciiLocal) refused.set(i, NO_SMTPUTF8);
    });
    local = refused;
  }
  const envelope = forms.map((f) => f.address);
  const to = local.size > 0 ? envelope.filter((_, i) => !local.has(i)) : envelope;
  let result: SendResult | undefined;
  let settled: Promise<void> = Promise.resolve();
  try {
    if (utf8 && snap.smtputf8 === undefined)
      throw new Error(`${NOT_KNOWN}${snap.unknownBecause ? ` (${snap.unknownBecause})` : ''}`);
    const composed = compose(m, to, config, ctx.store);
    if (to.length > 0) {
      const sending = snap.transporter.send(composed);
      const limit = ctx.sendTimeoutMs + 5000;
      // One promise settled by whichever comes first, the answer or the time limit; `settled` is
      // the chain that clears the timer (Promise.race and a promise for the timer cost more garbage).
      const info = await new Promise<SentInfo>((resolve, reject) => {
        const timer = setTimeout(() => {
          const error = new Error(`no answer within ${Math.round(limit / 1000)}s`);
          reject(Object.assign(error, { code: 'ETIMEDOUT' }));
        }, limit);
        settled = sending.then(
          (sent) => {
            clearTimeout(timer);
            resolve(sent);
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      });
      const ehlo = (info as { ehlo?: unknown }).ehlo;
      if (Array.isArray(ehlo)) snap.smtputf8 = smtputf8In(ehlo);
      result = {
        ok: true,
        response: String(info.response ?? '250'),
        rejectedErrors: ((info as { rejectedErrors?: unknown[] }).rejectedErrors ?? []) as unknown[],
      };
    }
  } catch (error) {
    result = { ok: false, error };
  }
  const { delivery, revision } = config;
  const outcome = decideOutcome(
    m,
    envelope,
    result,
    { at: new Date(startedAt).toISOString(), durationMs: performance.now() - t0 },
    {
      maxAttempts: delivery.maxAttempts,
      backoffMs: (n) => backoffMs(n, { baseMs: ctx.retryBaseMs, maxMs: delivery.maxBackoffMs }),
      now: Date.now(),
      configRevision: revision,
      secrets: snap.secrets,
    },
    local,
  );
  return { outcome, settled };
}
