/**
 * Test peers for the sidecar: an upstream `smtp-server` (cleartext, STARTTLS or implicit TLS, with a
 * test CA made on the spot) that records what it receives and can answer with scripted failures, and
 * helpers for temp dirs and the sidecar logger.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { createLogger, type Logger } from '../../src/runtime/logger.ts';
import { type CertificateAuthority, createCA, type KeyPair } from '../../src/runtime/pki.ts';

/** One message as the upstream received it. */
export interface Received {
  mailFrom: string;
  rcptTo: string[];
  raw: string;
  /** Header fields (lower-case names, unfolded), first occurrence. */
  headers: Map<string, string>;
  /** Every occurrence of each header (lower-case names). */
  all: Array<[string, string]>;
  secure: boolean;
  /** MAIL FROM carried SMTPUTF8. */
  smtpUtf8: boolean;
  user?: string;
  ehlo: string;
}

export type UpstreamTls = 'none' | 'starttls' | 'implicit';

export interface UpstreamOptions {
  tls?: UpstreamTls;
  /** Certificate for the server; default one for 127.0.0.1 and localhost from `ca`. */
  cert?: KeyPair;
  ca?: CertificateAuthority;
  /** Required credentials. */
  auth?: { user: string; pass: string };
  /**
   * Decides the reply to DATA for the n-th message (1-based): return an SMTP error code and text to
   * refuse it, or undefined to accept.
   */
  reply?: (n: number, raw: string) => { code: number; text: string } | undefined;
  /** Decides the reply to each RCPT TO: an SMTP error to refuse that recipient, or undefined to take it. */
  rcpt?: (address: string) => { code: number; text: string } | undefined;
  /** Announce SMTPUTF8 in EHLO (smtp-server does by default). */
  smtputf8?: boolean;
  port?: number;
}

export interface Upstream {
  port: number;
  received: Received[];
  /** Number of DATA commands seen (accepted or not). */
  dataCount(): number;
  /**
   * While on, the server reads each message to its end and then never answers (a stall after
   * DATA); turning it off lets later messages through (stalled ones stay unanswered).
   */
  stall(on: boolean): void;
  /** Messages read to the end while stalled. */
  stalled(): number;
  close(): Promise<void>;
}

let sharedCA: Promise<CertificateAuthority> | undefined;
/** One test CA per test process (key generation is the slow part). */
export function testCA(): Promise<CertificateAuthority> {
  sharedCA ??= createCA('Mailroom Sidecar Test CA');
  return sharedCA;
}

function parseHeaders(raw: string): Array<[string, string]> {
  const end = raw.indexOf('\r\n\r\n');
  const head = (end >= 0 ? raw.slice(0, end) : raw).replace(/\r\n[ \t]/g, ' ');
  return head
    .split('\r\n')
    .filter((l) => l.includes(':'))
    .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
}

/** Starts an upstream SMTP server on 127.0.0.1 (a free port unless `port` is given). */
export async function startUpstream(o: UpstreamOptions = {}): Promise<Upstream> {
  const mode = o.tls ?? 'none';
  let keyPair: KeyPair | undefined = o.cert;
  if (!keyPair && mode !== 'none') {
    const ca = o.ca ?? (await testCA());
    keyPair = await ca.issue({ names: ['localhost', '127.0.0.1'] });
  }
  const received: Received[] = [];
  let n = 0;
  let stalling = false;
  let stalledCount = 0;
  const server = new SMTPServer({
    secure: mode === 'implicit',
    ...(keyPair ? { key: keyPair.key, cert: keyPair.cert } : {}),
    disabledCommands: [...(mode === 'starttls' ? [] : ['STARTTLS']), ...(o.auth ? [] : ['AUTH'])],
    authOptional: !o.auth,
    allowInsecureAuth: mode === 'none',
    logger: false,
    // smtp-server asks DNS for the client's name by default: pointless on loopback, and it leaves the host.
    disableReverseLookup: true,
    hideSMTPUTF8: o.smtputf8 === false,
    maxClients: 500,
    closeTimeout: 500,
    onAuth(auth, _s, cb) {
      if (auth.username === o.auth?.user && auth.password === o.auth?.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('5.7.8 Authentication failed'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      const refusal = o.rcpt?.(address.address);
      if (refusal) cb(Object.assign(new Error(refusal.text), { responseCode: refusal.code }));
      else cb();
    },
    onData(stream, session: SMTPServerSession, cb) {
      if (stalling) {
        stream.on('data', () => {});
        stream.on('end', () => stalledCount++);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        n++;
        const raw = Buffer.concat(chunks).toString('utf8');
        const refusal = o.reply?.(n, raw);
        if (refusal) {
          cb(Object.assign(new Error(refusal.text), { responseCode: refusal.code }));
          return;
        }
        const all = parseHeaders(raw);
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw,
          headers: new Map([...all].reverse()),
          all,
          secure: session.secure,
          smtpUtf8: (session.envelope as { smtpUtf8?: boolean }).smtpUtf8 === true,
          ...(session.user ? { user: String(session.user) } : {}),
          ehlo: session.hostNameAppearsAs,
        });
        cb(null, `2.0.0 Ok: queued as up${n}`);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    dataCount: () => n,
    stall: (on) => {
      stalling = on;
    },
    stalled: () => stalledCount,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A temp directory removed by the returned function. */
export function tempDir(prefix = 'mailroom-sidecar-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger whose lines are kept in memory (tests scan them for secrets). */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', name: 'sidecar', destination }), lines };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  fn: () => T,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<Awaited<T>>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
