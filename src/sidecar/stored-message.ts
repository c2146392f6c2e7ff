/**
 * A queued message read back for sending a part at a time, so that a message near the size limit
 * is never whole in memory while it is sent: a raw message's header block (to rewrite it), then its
 * body streamed from the queue; a JSON message's skeleton (to compose its headers), then its long
 * `text` and `html` decoded from the queue as nodemailer reads them. What is read is read again on
 * each attempt: nothing of it is kept between attempts.
 *
 * @module
 */

import { HeaderBlock } from './header-block.ts';
import { JsonSkeleton, JsonStringDecoder } from './json-stream.ts';
import { stringChunks } from './message.ts';
import { validateSkeleton } from './message-skeleton.ts';
import type { JsonMessage } from './types.ts';

/** Reads the bytes from `start` to `end` of a payload, a part at a time. */
export type ReadRange = (start: number, end: number) => Iterable<Buffer>;

/** A long body left in the queue: its text's UTF-8 bytes, decoded as they are read. */
export interface LongBody {
  chunks: () => Iterable<Buffer>;
  /** Latin letters and other non-ASCII characters in it (how nodemailer would choose its encoding). */
  latin: number;
  other: number;
}

/** A JSON message as read back for sending: `text` and `html` strings, or long bodies. */
export type StoredJson = Omit<JsonMessage, 'text' | 'html'> & {
  text?: string | LongBody;
  html?: string | LongBody;
};

/** A raw message as read back for sending: its header block, then the rest on demand. */
export interface StoredRaw {
  head: Buffer;
  body: () => Iterable<Buffer>;
}

/** Reads the header block of a raw message of `size` bytes; the body is read when it is sent. */
export function storedRaw(read: ReadRange, size: number): StoredRaw {
  const head = new HeaderBlock();
  for (const b of read(0, size)) {
    head.add(b);
    if (head.done) break;
  }
  const block = head.block();
  return { head: block, body: () => read(block.length, size) };
}

/** Reads a JSON message of `size` bytes: its skeleton now, its long strings when they are sent. */
export function storedJson(read: ReadRange, size: number): StoredJson {
  // One pass reads the skeleton and counts the letters of the long strings as they go by.
  const counts: Array<{ latin: number; other: number }> = [];
  let decoder = new JsonStringDecoder();
  const sk = new JsonSkeleton((i, bytes) => {
    counts[i] ??= { latin: 0, other: 0 };
    if (bytes) for (const text of decoder.pieces(bytes)) countLetters(text, counts[i]);
    else countLetters(decoder.end(), counts[i]);
    if (!bytes) decoder = new JsonStringDecoder();
  });
  for (const b of read(0, size)) sk.write(b);
  const { text, long } = sk.end();
  const { msg, longOf } = validateSkeleton(JSON.parse(text), long);
  const out: StoredJson = { ...msg };
  for (const field of ['text', 'html'] as const) {
    const value = msg[field];
    const where = value === undefined ? undefined : longOf(value);
    if (!where) continue;
    out[field] = { chunks: () => decoded(read(where.start, where.end)), ...counts[long.indexOf(where)]! };
  }
  return out;
}

/** The UTF-8 bytes of a JSON string's text, from its bytes in the payload. */
function* decoded(bytes: Iterable<Buffer>): Generator<Buffer> {
  const d = new JsonStringDecoder();
  for (const b of bytes) for (const text of d.pieces(b)) yield* stringChunks(text);
  yield* stringChunks(d.end());
}

/**
 * Adds to `counts` the Latin letters and the other non-ASCII (or control) characters of `text`:
 * nodemailer's own rule picks quoted-printable when Latin letters outnumber the others, else base64.
 */
export function countLetters(text: string, counts: { latin: number; other: number }): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) counts.latin++;
    else if (c >= 0x80 || (c < 0x20 && c !== 9 && c !== 10 && c !== 13)) counts.other++;
  }
}
