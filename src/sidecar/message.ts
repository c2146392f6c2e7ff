/**
 * What the front doors accept: the HTTP API's JSON message and the SMTP door's raw message, each
 * checked before it is queued, so header injection and oversize mail are refused at the door with an
 * error that names the field, and nothing of them is ever sent.
 *
 * @module
 */
import * as z from 'zod';
// The spec's own header-name rule: a message header may be what a sender's spec may add.
import { HEADER_NAME_PATTERN, headerNameSchema } from '../api/message-fields.ts';
import { MAX_IDEMPOTENCY_KEY, MAX_RECIPIENTS } from './limits.ts';
import { addressparser } from './mail-libs.ts';
import { plainAddress } from './mime.ts';
import type { JsonMessage, NewMessage, RawHead, RawHeader } from './types.ts';

/** Characters of a large body handled at once (hashed, encoded, sent): a copy costs a chunk, not the body. */
export const CHUNK = 64 * 1024;

/** `text` in chunks of about {@link CHUNK} characters, never splitting a surrogate pair. */
export function* stringChunks(text: string): Generator<Buffer> {
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + CHUNK);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield Buffer.from(text.slice(at, end), 'utf8');
    at = end;
  }
}

/** Default largest message, in bytes (HTTP body or SMTP DATA). */
export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** Why a message was refused at a door; `field` names the offending part. */
export class MessageRejectedError extends Error {
  readonly reason: 'InvalidMessage' | 'HeaderInjection' | 'MessageTooLarge';
  readonly field?: string;
  constructor(reason: MessageRejectedError['reason'], message: string, field?: string) {
    super(message);
    this.name = 'MessageRejectedError';
    this.reason = reason;
    if (field !== undefined) this.field = field;
  }
}

const CRLF = /[\r\n]/;
const noCrLf = (what: string) =>
  z.string().refine((s) => !CRLF.test(s), { error: `${what} contains CR or LF (header injection)` });

/** One address: `a@example.com` or `Name <a@example.com>`, exactly one mailbox. */
const addressSchema = noCrLf('the address')
  .pipe(z.string().max(320, { error: 'is longer than 320 characters, the most an address may have' }))
  .refine(
    (s) => {
      // A plain address is one mailbox as it stands (mime.ts): parsing it only makes garbage.
      if (plainAddress(s)) return true;
      const parsed = addressparser(s);
      const address = parsed.length === 1 ? parsed[0]!.address : undefined;
      return address !== undefined && /^[^@\s]+@[^@\s]+$/.test(address);
    },
    { error: 'is not one email address (a@example.com or "Name <a@example.com>")' },
  );

const addressList = z.union(
  [addressSchema.transform((a) => [a]), z.array(addressSchema).max(MAX_RECIPIENTS)],
  {
    error: `must be an address ("a@example.com" or "Name <a@example.com>") or a list of at most ${MAX_RECIPIENTS} of them`,
  },
);

/** The body of `POST /v1/messages`. */
export const postMessageSchema = z
  .strictObject({
    to: addressList,
    cc: addressList.optional(),
    bcc: addressList.optional(),
    subject: noCrLf('the subject').pipe(z.string().max(998)),
    text: z.string().optional(),
    html: z.string().optional(),
    headers: z.record(headerNameSchema, noCrLf('the header value').pipe(z.string().max(998))).optional(),
    idempotencyKey: z.string().min(1).max(MAX_IDEMPOTENCY_KEY).optional(),
  })
  .refine((m) => m.text !== undefined || m.html !== undefined, {
    error: 'a message needs text, html or both',
    path: ['text'],
  })
  .refine((m) => count(m.to) + count(m.cc) + count(m.bcc) <= MAX_RECIPIENTS, {
    error: `to, cc and bcc together may name at most ${MAX_RECIPIENTS} recipients`,
    path: ['to'],
  });

function count(v: string | string[] | undefined): number {
  return v === undefined ? 0 : Array.isArray(v) ? v.length : 1;
}

export type PostMessage = z.input<typeof postMessageSchema>;

/**
 * Validates a parsed JSON body into a queueable message. Throws {@link MessageRejectedError}.
 * `raw`, the body as received, is stored as the payload when given: re-serializing a message near
 * the size limit would cost another copy of it in memory.
 *
 * @example
 * parseJsonMessage({ to: 'a@example.com', subject: 'Hi', text: 'Hello' }, 'key-1')
 */
export function parseJsonMessage(body: unknown, idempotencyKey?: string, raw?: Buffer): NewMessage {
  const { msg, key: bodyKey } = validateJsonMessage(body);
  const recipients = [...msg.to, ...msg.cc, ...msg.bcc].map(envelopeAddress);
  const key = idempotencyKey ?? bodyKey;
  return {
    door: 'http',
    kind: 'json',
    payload: raw ?? Buffer.from(JSON.stringify(msg)),
    recipients: [...new Set(recipients)],
    subject: msg.subject,
    // Only a keyed message is ever compared with another: the others are not hashed.
    ...(key !== undefined ? { idempotencyKey: key, fingerprint: fingerprintOf(msg) } : {}),
  };
}

function fingerprintOf(msg: JsonMessage): string {
  const hash = fingerprintStart(msg);
  // Chunk by chunk: a whole body near the size limit would be copied once more (as UTF-8) to hash it.
  for (const part of [msg.text, msg.html]) {
    hash.update(part === undefined ? '\0-' : '\0+');
    if (part !== undefined) for (const chunk of stringChunks(part)) hash.update(chunk);
  }
  return hash.digest('base64url');
}

/**
 * The fingerprint of a message starts with everything but its text and html (which follow): the
 * same message with its key in the header or in the body, or spaced otherwise, is the same message.
 */
export function fingerprintStart(msg: JsonMessage) {
  const { text: _text, html: _html, ...rest } = msg;
  // node:crypto loads with the first message, not at start (see store-intake.ts).
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(JSON.stringify(rest));
}

/**
 * The stored JSON payload of a message, as the message to compose: the body as the door took it
 * (the queue holds only bodies that passed {@link parseJsonMessage}) in the form the schema gives
 * it (one address as a list, absent lists and headers empty). Not validated again: that parsed
 * every address twice more per delivery, for a result the door already had.
 */
export function storedJsonMessage(payload: Buffer): JsonMessage {
  const m = JSON.parse(payload.toString('utf8')) as PostMessage;
  const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const msg: JsonMessage = {
    to: list(m.to),
    cc: list(m.cc),
    bcc: list(m.bcc),
    subject: m.subject,
    headers: m.headers ?? {},
  };
  if (m.text !== undefined) msg.text = m.text;
  if (m.html !== undefined) msg.html = m.html;
  return msg;
}

export function validateJsonMessage(body: unknown): { msg: JsonMessage; key?: string } {
  checkAddressInjection(body);
  const r = postMessageSchema.safeParse(body);
  if (!r.success) {
    const { path, message } = describeIssue(r.error.issues[0]!);
    const field = path.map(String).join('.') || undefined;
    const injection = message.includes('header injection');
    const what = field ? `${field}: ${message}` : message;
    throw new MessageRejectedError(injection ? 'HeaderInjection' : 'InvalidMessage', what, field);
  }
  const m = r.data;
  const msg: JsonMessage = {
    to: m.to,
    cc: m.cc ?? [],
    bcc: m.bcc ?? [],
    subject: m.subject,
    headers: m.headers ?? {},
  };
  if (m.text !== undefined) msg.text = m.text;
  if (m.html !== undefined) msg.html = m.html;
  return m.idempotencyKey !== undefined ? { msg, key: m.idempotencyKey } : { msg };
}

const FIELDS = Object.keys(postMessageSchema.shape).join(', ');

/**
 * The issue a person can act on, with its full path: zod's own text for a union, a record key or a
 * missing field ("Invalid input", "Invalid key in record", "expected string, received undefined")
 * says neither what was wrong nor what would be valid.
 */
function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code === 'invalid_union') {
    // The branch the value's type chose (a string, or a list) knows what is wrong with it.
    const chosen = issue.errors.find(
      (branch) => branch[0] !== undefined && branch[0].code !== 'invalid_type',
    );
    if (chosen) {
      const inner = describeIssue(chosen[0]!);
      return { path: [...issue.path, ...inner.path], message: inner.message };
    }
  }
  if (issue.code === 'invalid_key' && issue.issues[0]) {
    return { path: issue.path, message: describeIssue(issue.issues[0]).message };
  }
  if (issue.code === 'invalid_type' && issue.path.length === 0) {
    return {
      path: [],
      message: `the body must be a JSON object such as {"to": "a@example.com", "subject": "Hi", "text": "Hello"}`,
    };
  }
  if (issue.code === 'invalid_type') {
    const message = issue.message.endsWith('received undefined')
      ? `is required (${issue.expected})`
      : issue.message.replace(/^Invalid input: /, '');
    return { path: issue.path, message };
  }
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    return { path: issue.path, message: `unknown field ${keys}: the fields are ${FIELDS}` };
  }
  return { path: issue.path, message: issue.message };
}

/** Address fields accept a string or a list; a CR/LF in either is named as injection, not as a bad address. */
function checkAddressInjection(body: unknown): void {
  if (!body || typeof body !== 'object') return;
  for (const field of ['to', 'cc', 'bcc'] as const) {
    const v = (body as Record<string, unknown>)[field];
    const list = Array.isArray(v) ? v : [v];
    list.forEach((a, i) => {
      if (typeof a === 'string' && CRLF.test(a)) {
        const at = Array.isArray(v) ? `${field}.${i}` : field;
        throw new MessageRejectedError(
          'HeaderInjection',
          `${at}: the address contains CR or LF (header injection)`,
          at,
        );
      }
    });
  }
}

/** The bare address of `Name <a@example.com>`. */
export function envelopeAddress(display: string): string {
  if (plainAddress(display)) return display;
  const [first] = addressparser(display);
  return first?.address ?? display;
}

/** A raw message split at the end of its header block. */
export interface SplitMessage {
  /** Header fields, unfolded into name and raw value (continuation lines kept with their CRLF). */
  headers: RawHeader[];
  /** Everything after the blank line, untouched. */
  body: Buffer;
}

// Module constants: a regular expression literal makes a new RegExp each time it is evaluated.
/** A CR not followed by LF. */
const BARE_CR = /\r(?!\n)/;
/** A LF not preceded by CR. */
const BARE_LF = /(^|[^\r])\n/;

/**
 * Checks and splits the SMTP door's raw message. Refused: a bare CR anywhere in the header block,
 * line endings mixed between CRLF and LF in it (the two ways one header is read as two by one
 * server and as one by another), a NUL, and a line that is neither a field nor a continuation.
 *
 * Runs for every message at the door and again when it is composed: the header block is read in
 * one pass over one string, cutting out only each field's name and value (no array of lines, no
 * line strings): 2.3 → 1.0 KiB of garbage a call (V8 sampling heap profile of the shipped sidecar,
 * SMTP door under smtp-source; see the commit).
 */
export function splitRawMessage(raw: Buffer): SplitMessage {
  const crlfEnd = raw.indexOf('\r\n\r\n');
  const lfEnd = raw.indexOf('\n\n');
  let headEnd: number;
  let bodyStart: number;
  if (crlfEnd >= 0 && (lfEnd < 0 || crlfEnd + 1 <= lfEnd)) {
    headEnd = crlfEnd;
    bodyStart = crlfEnd + 4;
  } else if (lfEnd >= 0) {
    headEnd = lfEnd;
    bodyStart = lfEnd + 2;
  } else {
    headEnd = raw.length;
    bodyStart = raw.length;
  }
  const head = raw.toString('latin1', 0, headEnd);
  if (head.includes('\0')) throw injection('the header block contains a NUL byte');
  if (BARE_CR.test(head)) throw injection('a header contains a bare CR (carriage return without line feed)');
  const usesCrlf = head.includes('\r\n');
  if (usesCrlf && BARE_LF.test(head)) {
    throw injection('a header contains a bare LF (line feed without carriage return) among CRLF lines');
  }
  const eol = usesCrlf ? '\r\n' : '\n';
  const headers: SplitMessage['headers'] = [];
  // Line by line as `head.split(eol)` would cut it (an empty last line when head ends with eol).
  for (let at = 0; head !== ''; at += eol.length) {
    const found = head.indexOf(eol, at);
    const end = found < 0 ? head.length : found;
    const first = head.charCodeAt(at);
    if ((first === 0x20 || first === 0x09) && headers.length > 0) {
      headers[headers.length - 1]!.value += `\r\n${head.slice(at, end)}`;
    } else {
      const colon = head.indexOf(':', at);
      const name = colon > at && colon < end ? head.slice(at, colon) : '';
      if (!HEADER_NAME_PATTERN.test(name)) {
        throw new MessageRejectedError(
          'InvalidMessage',
          `the header line "${head.slice(at, Math.min(end, at + 40))}" is not a header field (name: value)`,
          'headers',
        );
      }
      // One space after the colon is the separator, not part of the value.
      const from = colon + 1 < end && head.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1;
      headers.push({ name, value: head.slice(from, end) });
    }
    if (found < 0) break;
    at = found;
  }
  return { headers, body: raw.subarray(bodyStart) };
}

/** A raw message split as the door read its header block ({@link RawHead}), without reading it again. */
export function splitAt(raw: Buffer, head: RawHead): SplitMessage {
  return { headers: head.headers, body: raw.subarray(head.bodyStart) };
}

function injection(message: string): MessageRejectedError {
  return new MessageRejectedError('HeaderInjection', `${message} (header injection)`, 'headers');
}

/** The Subject of a split raw message, for the delivery log (unfolded, undecoded). */
export function rawSubject(m: SplitMessage): string {
  const h = m.headers.find((x) => x.name.toLowerCase() === 'subject');
  return h ? h.value.replace(/\r\n[ \t]/g, ' ').slice(0, 200) : '';
}
