/**
 * Builds what goes upstream from a queued message and one config snapshot: From (display name and
 * address) and MAIL FROM from the config, the config's headers added, a Message-ID that is stable
 * across retries (so a duplicate after a crash is recognisable as one).
 *
 * The app's own From and Sender are replaced, not moved to Reply-To: an app that wants replies to go
 * elsewhere sets Reply-To itself, which is kept. That way an unmodified app that writes a
 * placeholder From (`root@localhost`) does not leak it into replies.
 *
 * Memory: a large body goes to nodemailer as a stream of small chunks, not as one string or Buffer;
 * a message read back from the queue part by part (stored-message.ts) is streamed from the queue.
 * Given a whole body, nodemailer encodes it (quoted-printable or base64) and dot-escapes it in one
 * piece, a few transient copies of the message each; in chunks those copies are a chunk each.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { fromDomain } from '../api/address.ts';
import type { LoadedConfig } from '../api/rendered-config.ts';
import { encodeWords } from './mail-libs.ts';
import { CHUNK, splitAt, splitRawMessage, stringChunks } from './message.ts';
import { countLetters, type LongBody, type StoredJson, type StoredRaw } from './stored-message.ts';
import type { JsonMessage, RawHead } from './types.ts';

/** The parts of the config that shape a message. */
export type ComposeConfig = Pick<LoadedConfig, 'from' | 'headers'>;

/** nodemailer's `sendMail` input for one attempt (a subset of its SendMailOptions). */
export interface Composed {
  envelope: { from: string; to: string[] };
  messageId: string;
  /** The whole message: its rewritten header block, then its body (in chunks when large). */
  raw?: Buffer | Readable;
  from?: { name: string; address: string };
  to?: string[];
  cc?: string[];
  bcc?: string[];
  subject?: string;
  /** Small bodies as strings (nodemailer picks 7bit when it can); large ones as chunk streams. */
  text?: string | Readable;
  html?: string | Readable;
  /** How a streamed body is encoded (nodemailer cannot look into a stream to choose). */
  textEncoding?: 'quoted-printable' | 'base64';
  headers?: Record<string, string>;
  date?: Date;
}

/** Header names replaced with the config's values (lower case). */
const REPLACED = new Set(['from', 'sender', 'return-path']);

/** `<id@domain-of-from>`: the same for every attempt of one message. */
export function messageIdFor(id: string, cfg: ComposeConfig): string {
  return `<${id}@${prepared(cfg).domain}>`;
}

/** What every message composed with one config shares, worked out once per config. */
interface Prepared {
  domain: string;
  /** `From: …` with its CRLF. */
  fromLine: string;
  /** The config's header names, lower case. */
  names: Set<string>;
  /** The config's headers as lines, each with its CRLF. */
  lines: string;
}

/**
 * Per config object (a snapshot's config is one object for all its messages): the From line, the
 * domain and the header lines were built again for every message, with a Set and a few strings.
 * With them, and each header's name lower-cased once, composeRaw's garbage went from 5.3 to 2.7 KiB
 * a message (V8 sampling heap profile, SMTP door under smtp-source; see the commit).
 */
const preparedFor = new WeakMap<ComposeConfig, Prepared>();

function prepared(cfg: ComposeConfig): Prepared {
  let p = preparedFor.get(cfg);
  if (!p) {
    const entries = Object.entries(cfg.headers);
    p = {
      domain: fromDomain(cfg.from.address),
      fromLine: `From: ${fromHeader(cfg)}\r\n`,
      names: new Set(entries.map(([n]) => n.toLowerCase())),
      lines: entries.map(([name, value]) => `${name}: ${asciiHeader(value)}\r\n`).join(''),
    };
    preparedFor.set(cfg, p);
  }
  return p;
}

/** The From header value for the config (display name MIME-encoded when not ASCII). */
export function fromHeader(cfg: ComposeConfig): string {
  const { name, address } = cfg.from;
  if (!name) return address;
  const display = /^[\x20-\x7e]*$/.test(name)
    ? `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`
    : encodeWords(name, 'Q', 52);
  return `${display} <${address}>`;
}

/** Composes a message that came through the HTTP API. */
export function composeJson(
  m: JsonMessage | StoredJson,
  recipients: string[],
  id: string,
  createdAt: number,
  cfg: ComposeConfig,
): Composed {
  const headers = { ...withoutConfigNames(m.headers, cfg), ...cfg.headers };
  const out: Composed = {
    envelope: { from: cfg.from.address, to: recipients },
    messageId: messageIdFor(id, cfg),
    from: { name: cfg.from.name ?? '', address: cfg.from.address },
    to: m.to,
    subject: m.subject,
    headers,
    date: new Date(createdAt),
  };
  if (m.cc.length) out.cc = m.cc;
  // Bcc reaches nodemailer only to build the envelope; nodemailer never writes a Bcc header.
  if (m.bcc.length) out.bcc = m.bcc;
  if (m.text !== undefined) out.text = body(m.text);
  if (m.html !== undefined) out.html = body(m.html);
  if (typeof out.text !== 'string' || typeof out.html !== 'string') {
    // nodemailer's own rule for a string body: quoted-printable for mostly Latin text, else base64.
    out.textEncoding = mostlyLatin(m.text, m.html) ? 'quoted-printable' : 'base64';
  }
  return out;
}

/** A body as nodemailer takes it: the string when small, else a stream of its chunks. */
function body(text: string | LongBody): string | Readable {
  if (typeof text !== 'string') return Readable.from(text.chunks(), { objectMode: false });
  return text.length <= CHUNK ? text : Readable.from(stringChunks(text), { objectMode: false });
}

/** Whether Latin letters outnumber the other non-ASCII characters (nodemailer's choice of Q over B). */
function mostlyLatin(...parts: Array<string | LongBody | undefined>): boolean {
  const counts = { latin: 0, other: 0 };
  for (const p of parts) {
    if (typeof p === 'string') countLetters(p, counts);
    else if (p) {
      counts.latin += p.latin;
      counts.other += p.other;
    }
  }
  return counts.other < counts.latin;
}

/**
 * Composes a message that came through the SMTP door: its header block is rewritten, its body is
 * passed on byte for byte. `head`, the door's reading of the header block of a message taken at
 * intake, spares reading it again (1.0 KiB of garbage and ≈1.7 µs a message: V8 heap and CPU
 * profiles, SMTP door under smtp-source; see the commit).
 */
export function composeRaw(
  raw: Buffer | StoredRaw,
  recipients: string[],
  id: string,
  createdAt: number,
  cfg: ComposeConfig,
  head?: RawHead,
): Composed {
  const split = !Buffer.isBuffer(raw)
    ? splitRawMessage(raw.head)
    : head
      ? splitAt(raw, head)
      : splitRawMessage(raw);
  const c = prepared(cfg);
  let existingId: string | undefined;
  let dated = false;
  let kept = '';
  for (const h of split.headers) {
    const n = h.name.toLowerCase();
    if (REPLACED.has(n) || c.names.has(n) || n === 'bcc') continue;
    if (n === 'message-id') existingId ??= h.value.trim();
    else if (n === 'date') dated = true;
    kept += `${h.name}: ${h.value}\r\n`;
  }
  const messageId = existingId ?? messageIdFor(id, cfg);
  const idLine = existingId === undefined ? `Message-ID: ${messageId}\r\n` : '';
  const dateLine = dated ? '' : `Date: ${new Date(createdAt).toUTCString()}\r\n`;
  const block = `${c.fromLine}${idLine}${dateLine}${kept}${c.lines}\r\n`;
  return {
    envelope: { from: cfg.from.address, to: recipients },
    messageId,
    // A small message in one piece (one write upstream); a large one as a stream of chunks.
    raw: !Buffer.isBuffer(raw)
      ? Readable.from(rawChunks(Buffer.from(block, 'latin1'), raw.body()), { objectMode: false })
      : split.body.length <= CHUNK
        ? oneBuffer(block, crlf(split.body))
        : Readable.from(rawChunks(Buffer.from(block, 'latin1'), [split.body]), { objectMode: false }),
  };
}

/** The header block and the body in one Buffer, written into it (no Buffer of the head on its own). */
function oneBuffer(head: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  return out;
}

/** The header block, then the body in chunks (views of it, copied only where a line ending changes). */
function* rawChunks(head: Buffer, body: Iterable<Buffer>): Generator<Buffer> {
  yield head;
  let last = -1;
  for (const piece of body) {
    for (let at = 0; at < piece.length; at += CHUNK) {
      const chunk = piece.subarray(at, at + CHUNK);
      yield crlf(chunk, last === 13);
      last = chunk[chunk.length - 1]!;
    }
  }
}

/** Header values go out as 7-bit text: anything else becomes an RFC 2047 encoded word. */
function asciiHeader(value: string): string {
  return /^[\x20-\x7e\t]*$/.test(value) ? value : encodeWords(value, 'Q', 52);
}

function withoutConfigNames(headers: Record<string, string>, cfg: ComposeConfig): Record<string, string> {
  const configNames = prepared(cfg).names;
  return Object.fromEntries(Object.entries(headers).filter(([n]) => !configNames.has(n.toLowerCase())));
}

const CRLF = Buffer.from('\r\n');

/**
 * SMTP wants CRLF: a body written with bare LF (common from scripts) is converted, a chunk at a
 * time (`afterCr`: the chunk before ended with CR, so a LF first in this one is not bare).
 */
export function crlf(chunk: Buffer, afterCr = false): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let lf = chunk.indexOf(10); lf >= 0; lf = chunk.indexOf(10, lf + 1)) {
    if (lf > 0 ? chunk[lf - 1] === 13 : afterCr) continue;
    parts.push(chunk.subarray(from, lf), CRLF);
    from = lf + 1;
  }
  if (parts.length === 0) return chunk;
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}
