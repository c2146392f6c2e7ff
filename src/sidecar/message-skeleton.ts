/**
 * A JSON message validated from its skeleton (see json-stream.ts): a body near the size limit is
 * never parsed whole; its long strings stay in the queue and are read back only to fingerprint them.
 *
 * @module
 */
import { JsonStringDecoder, type LongString } from './json-stream.ts';
import { envelopeAddress, fingerprintStart, stringChunks, validateJsonMessage } from './message.ts';
import type { JsonMessage, NewMessage } from './types.ts';

/**
 * Validates a JSON message parsed from its skeleton (see json-stream.ts): its long strings stayed
 * in the queue (the caller checked them as they went by), and `read` gives their bytes back a part
 * at a time, to fingerprint them when the message has an idempotency key.
 * Only `text` and `html` may be long; a long string anywhere else is refused as the whole message
 * would be (over its field's limit). Throws {@link MessageRejectedError}, or a SyntaxError for a long
 * string that is not valid JSON.
 */
export async function parseJsonSkeleton(
  body: unknown,
  long: readonly LongString[],
  idempotencyKey: string | undefined,
  read: (start: number, end: number) => AsyncIterable<Buffer>,
): Promise<Omit<NewMessage, 'payload'>> {
  const { msg, key: bodyKey, longOf } = validateSkeleton(body, long);
  const key = idempotencyKey ?? bodyKey;
  // Only a keyed message is ever compared with another: only its long strings are read again.
  const hash = key === undefined ? undefined : fingerprintStart(msg);
  for (const part of hash ? [msg.text, msg.html] : []) {
    hash!.update(part === undefined ? '\0-' : '\0+');
    if (part === undefined) continue;
    const where = longOf(part);
    if (!where) {
      for (const chunk of stringChunks(part)) hash!.update(chunk);
      continue;
    }
    const decoder = new JsonStringDecoder();
    for await (const bytes of read(where.start, where.end))
      for (const text of decoder.pieces(bytes)) hash!.update(text);
    hash!.update(decoder.end());
  }
  return {
    door: 'http',
    kind: 'json',
    recipients: [...new Set([...msg.to, ...msg.cc, ...msg.bcc].map(envelopeAddress))],
    subject: msg.subject,
    ...(key !== undefined && hash ? { idempotencyKey: key, fingerprint: hash.digest('base64url') } : {}),
  };
}

/**
 * Validates a JSON message parsed from its skeleton: `text` and `html` may be placeholders of long
 * strings (`longOf` tells where such a one lies); a long string anywhere else is refused as the
 * whole message would be (over its field's limit).
 */
export function validateSkeleton(
  body: unknown,
  long: readonly LongString[],
): { msg: JsonMessage; key?: string; longOf: (v: string) => LongString | undefined } {
  const placeholders = new Map(long.map((l) => [l.placeholder, l]));
  const filled = fill(body, (v, top) =>
    typeof v === 'string' && placeholders.has(v) && !top ? TOO_LONG : v,
  );
  return { ...validateJsonMessage(filled), longOf: (v) => placeholders.get(v) };
}

/** Longer than any field but text and html may be. */
const TOO_LONG = 'x'.repeat(1000);

/** `body` with `f` applied to each value (`top`: the value of a top-level `text` or `html`). */
function fill(body: unknown, f: (v: unknown, top: boolean) => unknown): unknown {
  const walk = (v: unknown, top: boolean): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, false));
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, false)]));
    return f(v, top);
  };
  if (!body || typeof body !== 'object' || Array.isArray(body)) return walk(body, false);
  return Object.fromEntries(Object.entries(body).map(([k, x]) => [k, walk(x, k === 'text' || k === 'html')]));
}
