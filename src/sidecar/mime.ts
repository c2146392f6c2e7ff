/**
 * The MIME form of a small JSON message (text, html or both), built at once into one Buffer with
 * nodemailer's own rules: header values encoded by a nodemailer MIME node (addresses, IDN domains,
 * encoded words), lines folded by its `foldLines`, bodies encoded by its quoted-printable and base64
 * encoders, and the same choice of transfer encoding (7bit when it can, else quoted-printable for
 * mostly Latin text, else base64).
 *
 * nodemailer's MailComposer builds the same message as a tree of nodes that streams itself out; for
 * a message of a few hundred bytes that costs several times the rest of its delivery (see
 * upstream.ts). A message this module does not take (a streamed body, a `Content-*` header of the
 * app's) is left to MailComposer.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { base64, foldLines, mimeNode, qp } from './mail-libs.ts';

/** The parts of a composed JSON message that make its MIME form. */
export interface SimpleMessage {
  messageId: string;
  from?: { name: string; address: string };
  to?: string[];
  cc?: string[];
  subject?: string;
  text?: string | Readable;
  html?: string | Readable;
  headers?: Record<string, string>;
  date?: Date;
}

/** One node, used only for its header encoding (it holds no per-message state for that). */
let encoder: InstanceType<ReturnType<typeof mimeNode>> | undefined;

function header(name: string, value: string | Date | { name: string; address: string }): string {
  encoder ??= new (mimeNode())(false, { baseBoundary: 'unused' });
  return foldLines(`${name}: ${encoder.encodeHeaderValue(name, value)}`, 76);
}

/**
 * An address nodemailer's header encoding gives back as it is: a dot-atom local part of common
 * characters and a lower-case ASCII domain (not an A-label). For an address header nodemailer
 * parses the list (its addressparser), normalizes every address (IDNA for the domain, quoting for
 * an unusual local part) and writes it again, to write what it was given: for the From and To of
 * a plain message that was ≈8 KiB of the 69 KiB a message allocated at the HTTP door (V8's
 * sampling heap profiler, the sidecar under load). mime.test.ts holds the two to the same output.
 * The From, the same for every message of a config, is built by nodemailer once.
 */
const PLAIN_ADDRESS =
  /^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

/**
 * Whether nodemailer writes `address` (in an address header, without a name) as it is; its address
 * parser reads such an address as one mailbox, itself (message.ts skips the parse too).
 */
export function plainAddress(address: string): boolean {
  return PLAIN_ADDRESS.test(address) && !address.includes('xn--');
}

/** An address list header (To, Cc): plain addresses as they are, anything else through nodemailer. */
function addressHeader(name: 'To' | 'Cc', list: string[]): string {
  if (list.every(plainAddress)) return foldLines(`${name}: ${list.join(', ')}`, 76);
  return header(name, list.join(', '));
}

/** The last From built: a config's From is the same in every message it sends. */
let lastFrom: { name: string; address: string; line: string } | undefined;

function fromHeader(from: { name: string; address: string }): string {
  if (lastFrom?.name !== from.name || lastFrom.address !== from.address) {
    lastFrom = { name: from.name, address: from.address, line: header('From', from) };
  }
  return lastFrom.line;
}

/** nodemailer's choice: 7bit for short lines of plain text, else Q for mostly Latin text, else base64. */
function transferEncoding(text: string): '7bit' | 'quoted-printable' | 'base64' {
  let latin = 0;
  let other = 0;
  let plain = true;
  let line = 0;
  let long = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) {
      line = 0;
      continue;
    }
    if (++line > 76) long = true;
    if (c <= 8 || c === 11 || c === 12 || (c >= 14 && c <= 31) || c >= 0x80) {
      other++;
      plain = false;
    } else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
  }
  if (plain && !long) return '7bit';
  return other < latin ? 'quoted-printable' : 'base64';
}

/** A body part: its two content headers, a blank line, the encoded text (CRLF line ends). */
function part(type: 'plain' | 'html', text: string): string {
  const cte = transferEncoding(text);
  const bytes = Buffer.from(text, 'utf8');
  const body =
    cte === '7bit'
      ? text.replace(/\r?\n|\r/g, '\r\n')
      : cte === 'quoted-printable'
        ? qp().wrap(qp().encode(bytes), 76)
        : base64().wrap(base64().encode(bytes), 76);
  return `Content-Type: text/${type}; charset=utf-8\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}`;
}

/**
 * The whole message as one Buffer, or undefined when it is not one this module builds (a body
 * given as a stream, a `Content-*` header among the app's).
 */
export function buildSimpleMessage(m: SimpleMessage): Buffer | undefined {
  if (typeof (m.text ?? '') !== 'string' || typeof (m.html ?? '') !== 'string') return undefined;
  const custom = Object.entries(m.headers ?? {});
  if (custom.some(([n]) => n.toLowerCase().startsWith('content-'))) return undefined;
  const lines: string[] = [];
  if (m.from) lines.push(fromHeader(m.from));
  if (m.to?.length) lines.push(addressHeader('To', m.to));
  if (m.cc?.length) lines.push(addressHeader('Cc', m.cc));
  if (m.subject) lines.push(header('Subject', m.subject));
  lines.push(header('Message-ID', m.messageId), header('Date', m.date ?? new Date()));
  for (const [name, value] of custom) {
    // nodemailer leaves out a header whose value is empty.
    if (value.trim()) lines.push(header(name, value));
  }
  lines.push('MIME-Version: 1.0');
  const text = m.text as string | undefined;
  const html = m.html as string | undefined;
  let content: string;
  if (text !== undefined && html !== undefined) {
    // node:crypto loads with the first message, not at start (see store.ts).
    const boundary = `--_MR-${process.getBuiltinModule('node:crypto').randomUUID()}`;
    content =
      `Content-Type: multipart/alternative;\r\n boundary="${boundary}"\r\n\r\n` +
      `--${boundary}\r\n${part('plain', text)}\r\n--${boundary}\r\n${part('html', html)}\r\n--${boundary}--\r\n`;
  } else content = part(html !== undefined ? 'html' : 'plain', text ?? html ?? '');
  return Buffer.from(`${lines.join('\r\n')}\r\n${content}`, 'utf8');
}
