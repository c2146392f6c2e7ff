/**
 * The SMTP conversation of a probe or a test send, for a person to read: `C:` lines the client sent,
 * `S:` lines the server sent, `*` lines for connection and TLS events.
 *
 * It never holds a credential in any encoding: the arguments of AUTH and every line of an AUTH
 * exchange are written as `***` when they are recorded (never stored first and masked later), and
 * every line also goes through the redactor with the endpoint's user name and password, which
 * removes them raw, percent-encoded, base64 and as AUTH PLAIN blobs.
 *
 * @module
 */
import { REDACTED, redactSecrets } from '../runtime/redact.ts';
import { printable } from './connection.ts';
import type { CertificateFacts, TlsFacts } from './probe-result.ts';

/** Longest line kept; server lines beyond it are cut. */
const MAX_LINE = 300;
/** Lines kept at most: a peer that floods is cut short, with a note. */
const MAX_ENTRIES = 400;

/** Receives what goes over the wire; {@link SmtpConnection} calls it. */
export interface WireObserver {
  /** A line the client sent; `secret` when it is part of an AUTH exchange. */
  client(line: string, secret?: boolean): void;
  /** A line the server sent (raw, unparsed). */
  server(line: string): void;
}

/** A redacted transcript, built while the conversation runs. */
export class Transcript implements WireObserver {
  readonly #lines: string[] = [];
  readonly #secrets: string[];
  #dropped = 0;

  /** `secrets`: the password, then the user name (and any other value that must never show). */
  constructor(secrets: ReadonlyArray<string | undefined>) {
    this.#secrets = secrets.filter((x): x is string => !!x);
    // A server that echoes an AUTH PLAIN line echoes the blob, whose base64 is not the password's.
    const [password, user] = secrets;
    if (password)
      this.#secrets.push(
        b64(`\0${user ?? ''}\0${password}`),
        b64(`${user ?? ''}\0${user ?? ''}\0${password}`),
      );
  }

  client(line: string, secret = false): void {
    this.#push(`C: ${secret ? maskAuth(line) : line}`);
  }

  server(line: string): void {
    this.#push(`S: ${printable(line, MAX_LINE)}`);
  }

  /** A connection or TLS event. */
  event(text: string): void {
    this.#push(`* ${text}`);
  }

  /** The TLS parameters and certificate of an established connection. */
  tls(label: string, facts: TlsFacts): void {
    this.event(`${label}: ${facts.version}, ${facts.cipher}`);
    if (facts.certificate) this.event(`certificate: ${describeCertificate(facts.certificate)}`);
  }

  /** The lines so far. */
  lines(): string[] {
    return this.#dropped ? [...this.#lines, `* … ${this.#dropped} more lines not kept`] : [...this.#lines];
  }

  #push(line: string): void {
    if (this.#lines.length >= MAX_ENTRIES) {
      this.#dropped++;
      return;
    }
    this.#lines.push(redactSecrets(line, this.#secrets));
  }
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** `AUTH PLAIN <blob>` → `AUTH PLAIN ***`; any other line of an AUTH exchange → `***`. */
function maskAuth(line: string): string {
  const m = /^(AUTH [A-Za-z0-9_-]+)(\s|$)/i.exec(line);
  if (!m) return REDACTED;
  return line.length > m[1]!.length ? `${m[1]} ${REDACTED}` : m[1]!;
}

function describeCertificate(c: CertificateFacts): string {
  const names = c.altNames.length ? ` (${c.altNames.join(', ')})` : '';
  return `subject ${c.subject}${names}, issuer ${c.issuer || 'unknown'}, notAfter ${c.notAfter}`;
}

/** nodemailer's logger interface (bunyan-like: a data object, then a format string and its args). */
type LogFn = (entry: { tnx?: string }, message: string, ...args: unknown[]) => void;

/**
 * A nodemailer `logger` (with `debug: true`) that writes its SMTP transaction into `transcript`:
 * client and server lines, and its connection and TLS notes as events. Lines a client sends between
 * `AUTH` and the server's last 334 are masked whole, whatever nodemailer itself logs for them.
 */
export function nodemailerLogger(transcript: Transcript): Record<string, LogFn> {
  let inAuth = false;
  const log: LogFn = (entry, message, ...args) => {
    const text = formatLog(message, args);
    if (entry.tnx === 'client') {
      for (const line of text.split(/\r?\n/)) {
        if (/^AUTH /i.test(line)) inAuth = true;
        transcript.client(line, inAuth);
      }
    } else if (entry.tnx === 'server') {
      for (const line of text.split(/\r?\n/)) {
        transcript.server(line);
        if (inAuth && !/^334[ -]/.test(line)) inAuth = false;
      }
    } else if (entry.tnx === 'network' || entry.tnx === 'smtp' || entry.tnx === 'pool') {
      transcript.event(text);
    }
  };
  return { trace: log, debug: log, info: log, warn: log, error: log, fatal: log };
}

function formatLog(message: string, args: unknown[]): string {
  let i = 0;
  return String(message).replace(/%[sdj%]/g, (m) =>
    m === '%%' ? '%' : i < args.length ? String(args[i++]) : m,
  );
}
