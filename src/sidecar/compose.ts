/**
 * Builds what goes upstream from a queued message and one config snapshot: From (display name and
 * address) and MAIL FROM from the config, the config's headers added, a Message-ID that is stable
 * across retries (so a duplicate after a crash is recognisable as one).
 *
 * The app's own From and Sender are replaced, not moved to Reply-To: an app that wants replies to go
 * elsewhere sets Reply-To itself, which is kept. That way an unmodified app that writes a
 * placeholder From (`root@localhost`) does not leak it into replies.
 *
 * @module
 */
import { encodeWords } from 'nodemailer/lib/mime-funcs';
import { fromDomain } from '../api/address.ts';
import type { LoadedConfig } from '../api/rendered-config.ts';
import { splitRawMessage } from './message.ts';
import type { JsonMessage } from './types.ts';

/** The parts of the config that shape a message. */
export type ComposeConfig = Pick<LoadedConfig, 'from' | 'headers'>;

/** nodemailer's `sendMail` input for one attempt (a subset of its SendMailOptions). */
export interface Composed {
  envelope: { from: string; to: string[] };
  messageId: string;
  raw?: Buffer;
  from?: { name: string; address: string };
  to?: string[];
  cc?: string[];
  bcc?: string[];
  subject?: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  date?: Date;
}

/** Header names replaced with the config's values (lower case). */
const REPLACED = new Set(['from', 'sender', 'return-path']);

/** `<id@domain-of-from>`: the same for every attempt of one message. */
export function messageIdFor(id: string, cfg: ComposeConfig): string {
  const domain = fromDomain(cfg.from.address);
  return `<${id}@${domain}>`;
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
  m: JsonMessage,
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
  if (m.text !== undefined) out.text = m.text;
  if (m.html !== undefined) out.html = m.html;
  return out;
}

/**
 * Composes a message that came through the SMTP door: its header block is rewritten, its body is
 * passed on byte for byte.
 */
export function composeRaw(
  raw: Buffer,
  recipients: string[],
  id: string,
  createdAt: number,
  cfg: ComposeConfig,
): Composed {
  const split = splitRawMessage(raw);
  const configNames = new Set(Object.keys(cfg.headers).map((n) => n.toLowerCase()));
  const kept = split.headers.filter((h) => {
    const n = h.name.toLowerCase();
    return !REPLACED.has(n) && !configNames.has(n) && n !== 'bcc';
  });
  const lines = [`From: ${fromHeader(cfg)}`];
  let messageId = messageIdFor(id, cfg);
  const existingId = kept.find((h) => h.name.toLowerCase() === 'message-id');
  if (existingId) messageId = existingId.value.trim();
  else lines.push(`Message-ID: ${messageId}`);
  if (!kept.some((h) => h.name.toLowerCase() === 'date'))
    lines.push(`Date: ${new Date(createdAt).toUTCString()}`);
  for (const h of kept) lines.push(`${h.name}: ${h.value}`);
  for (const [name, value] of Object.entries(cfg.headers)) lines.push(`${name}: ${asciiHeader(value)}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return {
    envelope: { from: cfg.from.address, to: recipients },
    messageId,
    raw: Buffer.concat([head, normalizeBody(split.body)]),
  };
}

/** Header values go out as 7-bit text: anything else becomes an RFC 2047 encoded word. */
function asciiHeader(value: string): string {
  return /^[\x20-\x7e\t]*$/.test(value) ? value : encodeWords(value, 'Q', 52);
}

function withoutConfigNames(headers: Record<string, string>, cfg: ComposeConfig): Record<string, string> {
  const configNames = new Set(Object.keys(cfg.headers).map((n) => n.toLowerCase()));
  return Object.fromEntries(Object.entries(headers).filter(([n]) => !configNames.has(n.toLowerCase())));
}

/** SMTP wants CRLF: a body written with bare LF (common from scripts) is converted. */
function normalizeBody(body: Buffer): Buffer {
  if (!body.includes(10)) return body;
  const text = body.toString('latin1');
  if (!/(^|[^\r])\n/.test(text)) return body;
  return Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1');
}
