/**
 * The probe: connect to an SMTP server exactly as sending will (TCP, greeting, EHLO, STARTTLS or
 * implicit TLS, certificate chain and name, AUTH, optionally MAIL FROM), never send a message, and
 * end with one reason from the closed set in `reasons.ts` plus a message that says what to try.
 *
 * It speaks SMTP itself on `net`/`tls` (see `connection.ts`) rather than through nodemailer, because
 * the diagnosis must tell apart faults that nodemailer folds together: an untrusted chain from a name
 * mismatch, STARTTLS not offered from STARTTLS refused, a refused port from a silent one.
 *
 * @module
 */

import { isIP, connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { redactSecrets } from '../runtime/redact.ts';
import { EXPIRING_SOON_MS, tlsFacts, verifyCertificate } from './certificate.ts';
import { printable, type Reply, SmtpConnection, WireError } from './connection.ts';
import { classifyPeer, describePeer, hintForPeer, type PeerKind } from './peer-kind.ts';
import type { ProbeResult, ProbeStep } from './probe-result.ts';
import type { ProbeReason } from './reasons.ts';
import { lookupVia } from './resolver.ts';
import { authenticate, chooseMechanism } from './sasl.ts';
import { speaksTls } from './tls-diagnosis.ts';
import { trustedCAs } from './trust.ts';
import {
  endpointAddress,
  InvalidUriError,
  parseSmtpUri,
  type SmtpEndpoint,
  tlsServerName,
  usesTls,
  verifiesCertificate,
  warningsFor,
} from './uri.ts';

export interface ProbeOptions {
  /** EHLO name; default {@link defaultLocalName}. */
  localName?: string;
  /** Time limit for the whole probe; default 10 s. Each step gets what is left. */
  timeoutMs?: number;
  /** Log in with the URI's credentials when it has them; default true. */
  authenticate?: boolean;
  /** Send `MAIL FROM:<from>` then `RSET`; needs `from`. */
  checkSender?: boolean;
  from?: string;
  /** Extra trusted CA certificates (PEM bundle). */
  ca?: string;
  signal?: AbortSignal;
  /** DNS servers (`host:port`) to resolve the host with, instead of the system resolver. */
  dnsServers?: string[];
  /** Clock for certificate dates; tests pin it. */
  now?: () => Date;
}

/** The EHLO name used when none is configured: the host name, never "localhost". */
export function defaultLocalName(): string {
  const name = hostname().toLowerCase();
  return name && !/^localhost(\.|$)/.test(name) && /^[a-z0-9.-]+$/.test(name) ? name : 'mailroom.invalid';
}

/** A probe outcome other than success, thrown by a step and turned into the result once. */
class ProbeFailure extends Error {
  readonly reason: ProbeReason;
  constructor(reason: ProbeReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

interface Session {
  endpoint: SmtpEndpoint;
  opts: Required<Pick<ProbeOptions, 'timeoutMs' | 'authenticate' | 'checkSender'>> & ProbeOptions;
  deadline: number;
  step: ProbeStep;
  conn?: SmtpConnection;
  result: ProbeResult;
  notes: string[];
}

/** Probes a URI; an unparsable URI gives an `InvalidURI` result, never an exception. */
export async function probeUri(uri: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  let endpoint: SmtpEndpoint;
  try {
    endpoint = parseSmtpUri(uri).endpoint;
  } catch (err) {
    if (!(err instanceof InvalidUriError)) throw err;
    return {
      ok: false,
      reason: 'InvalidURI',
      message: `invalid URI (${err.field}): ${err.message}`,
      step: 'parse',
      durationMs: 0,
      extensions: [],
      authMechanisms: [],
      warnings: [],
    };
  }
  return probe(endpoint, opts);
}

/** Probes an endpoint. Never rejects: every outcome is a {@link ProbeResult}. */
export async function probe(endpoint: SmtpEndpoint, options: ProbeOptions = {}): Promise<ProbeResult> {
  const started = performance.now();
  const opts = { timeoutMs: 10_000, authenticate: true, checkSender: false, ...options };
  const s: Session = {
    endpoint,
    opts,
    deadline: Date.now() + opts.timeoutMs,
    step: 'connect',
    notes: [],
    result: {
      ok: false,
      reason: 'ConnectionTimeout',
      message: '',
      step: 'connect',
      security: endpoint.security,
      endpoint: endpointAddress(endpoint),
      durationMs: 0,
      extensions: [],
      authMechanisms: [],
      warnings: [],
    },
  };
  s.result.warnings.push(...warningsFor(endpoint));
  try {
    await run(s);
    const r = s.result;
    r.ok = true;
    r.reason = 'Verified';
    r.step = 'quit';
    r.durationMs = Math.round(performance.now() - started);
    r.message = `${[describeSecurity(s), ...s.notes].join('; ')}; ${r.durationMs} ms`;
  } catch (err) {
    const failure = err instanceof ProbeFailure ? err : unexpected(err);
    s.result.reason = failure.reason;
    s.result.step = s.step;
    s.result.durationMs = Math.round(performance.now() - started);
    s.result.message = redactSecrets(`${failure.message}`, [endpoint.password, endpoint.username]);
  } finally {
    s.conn?.destroy();
  }
  return s.result;
}

function unexpected(err: unknown): ProbeFailure {
  const msg = err instanceof Error ? err.message : String(err);
  return new ProbeFailure('UnexpectedGreeting', `the probe failed unexpectedly: ${msg}`);
}

function remaining(s: Session): number {
  if (s.opts.signal?.aborted) throw new ProbeFailure('ConnectionTimeout', 'the probe was cancelled');
  const left = s.deadline - Date.now();
  if (left <= 0)
    throw new ProbeFailure(
      'ConnectionTimeout',
      `the probe ran out of time (${s.opts.timeoutMs} ms) before ${stepLabel(s.step)}`,
    );
  return left;
}

async function run(s: Session): Promise<void> {
  const { endpoint: e } = s;
  const socket = await connectTcp(s);
  s.conn = new SmtpConnection(socket);
  if (e.scheme === 'smtps') await startTls(s, 'tls');
  const greeting = await readGreeting(s);
  if (greeting.code !== 220) {
    throw new ProbeFailure(
      'UnexpectedGreeting',
      `the server greeted with ${codes(greeting)} instead of 220: it refuses this client or is not ready`,
    );
  }
  await ehlo(s);
  // Kept only once the peer has answered EHLO as SMTP: another protocol's banner never reaches status.
  s.result.greeting = printable(greeting.lines.join(' '), 200);
  if (e.security === 'StartTLS' || e.security === 'StartTLSInsecure') {
    s.step = 'starttls';
    if (!s.result.extensions.some((x) => x.toUpperCase() === 'STARTTLS')) {
      throw new ProbeFailure(
        'STARTTLSNotOffered',
        `the server does not offer STARTTLS, which smtp:// requires: use smtps:// if it speaks TLS on another port (usually 465), or, only on a trusted network, add ?disable_starttls=true`,
      );
    }
    const r = await command(s, 'STARTTLS');
    if (r.code !== 220) {
      throw new ProbeFailure(
        'STARTTLSNotOffered',
        `the server offers STARTTLS but refused it with ${codes(r)}`,
      );
    }
    await startTls(s, 'starttls');
    await ehlo(s);
  }
  await auth(s);
  if (s.opts.checkSender) await checkSender(s);
  s.step = 'quit';
  await s.conn.close(Math.min(500, Math.max(50, s.deadline - Date.now())));
}

/** A fresh TCP connection to the endpoint for a diagnostic look, bounded by `timeoutMs`. */
function dial(s: Session, timeoutMs: number): Promise<Socket> {
  const { host, port } = s.endpoint;
  return new Promise((resolve, reject) => {
    const lookup = s.opts.dnsServers?.length ? { lookup: lookupVia(s.opts.dnsServers) } : {};
    const socket = netConnect({ host, port, autoSelectFamily: true, ...lookup });
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function connectTcp(s: Session): Promise<Socket> {
  const { host, port } = s.endpoint;
  s.step = 'connect';
  const timeout = remaining(s);
  return new Promise((resolve, reject) => {
    const lookup = s.opts.dnsServers?.length ? { lookup: lookupVia(s.opts.dnsServers) } : {};
    const socket = netConnect({ host, port, autoSelectFamily: true, ...lookup });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ProbeFailure(
          'ConnectionTimeout',
          `no TCP connection to ${endpointAddress(s.endpoint)} within ${timeout} ms: check the host and port, and that a firewall lets this cluster reach it (many cloud networks block port 25)`,
        ),
      );
    }, timeout);
    const onAbort = () => socket.destroy(new Error('cancelled'));
    s.opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      s.opts.signal?.removeEventListener('abort', onAbort);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.opts.signal?.removeEventListener('abort', onAbort);
      reject(connectFailure(s, err));
    });
  });
}

function connectFailure(s: Session, err: NodeJS.ErrnoException): ProbeFailure {
  const where = endpointAddress(s.endpoint);
  const code = err.code ?? '';
  const nested = (err as { errors?: NodeJS.ErrnoException[] }).errors?.map((x) => x.code) ?? [];
  const codes = [code, ...nested];
  if (
    codes.some(
      (c) =>
        c === 'ENOTFOUND' ||
        c === 'EAI_AGAIN' ||
        c === 'EAI_FAIL' ||
        c === 'EAI_NONAME' ||
        c === 'ENODATA' ||
        c === 'ESERVFAIL' ||
        c === 'EREFUSED' ||
        c === 'ETIMEOUT' ||
        c === 'ECONNREFUSED_DNS',
    )
  ) {
    s.step = 'dns';
    return new ProbeFailure(
      'DNSLookupFailed',
      `the host name ${s.endpoint.host} does not resolve (${code}): check its spelling and the cluster's DNS`,
    );
  }
  if (codes.includes('ECONNREFUSED')) {
    return new ProbeFailure(
      'ConnectionRefused',
      `${where} refused the connection: nothing listens there; check the port (587 for smtp://, 465 for smtps://)`,
    );
  }
  if (codes.some((c) => c === 'ETIMEDOUT')) {
    return new ProbeFailure(
      'ConnectionTimeout',
      `no TCP connection to ${where} (${code}): check the host and port, and the firewall`,
    );
  }
  return new ProbeFailure(
    'ConnectionRefused',
    `cannot connect to ${where} (${code || err.message}): the host or network is unreachable`,
  );
}

async function startTls(s: Session, step: 'tls' | 'starttls'): Promise<void> {
  s.step = step;
  const e = s.endpoint;
  const serverName = tlsServerName(e);
  const options: ConnectionOptions = {
    ca: trustedCAs(s.opts.ca, 'the CA bundle'),
    rejectUnauthorized: false,
    // SNI carries names only; an IP literal host gets no SNI.
    ...(isIP(serverName) ? {} : { servername: serverName }),
  };
  let tls: TLSSocket;
  try {
    tls = await s.conn!.upgradeToTls(options, remaining(s));
  } catch (err) {
    throw tlsFailure(s, err);
  }
  s.result.tls = tlsFacts(tls);
  const cert = s.result.tls.certificate;
  const now = s.opts.now?.() ?? new Date();
  if (verifiesCertificate(e.security)) {
    const verdict = verifyCertificate(tls, serverName, now);
    if (verdict) throw new ProbeFailure(verdict.reason, verdict.message);
  }
  if (cert) {
    const left = new Date(cert.notAfter).getTime() - now.getTime();
    if (left > 0 && left < EXPIRING_SOON_MS) {
      s.result.warnings.push({
        code: 'CertificateExpiringSoon',
        message: `the server certificate expires on ${cert.notAfter} (in ${Math.ceil(left / 86_400_000)} days)`,
      });
    }
  }
}

function tlsFailure(s: Session, err: unknown): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  const w = err instanceof WireError ? err : undefined;
  const detail = w?.code ?? w?.failure ?? (err instanceof Error ? err.message : String(err));
  const text = err instanceof Error ? err.message : '';
  let hint = 'check that the server supports TLS 1.2 or newer';
  if (
    /wrong version number|packet length too long|unknown protocol|http request/i.test(text) ||
    w?.code === 'ERR_SSL_WRONG_VERSION_NUMBER'
  ) {
    hint =
      s.step === 'tls'
        ? 'the port answers in plain text, not TLS: use smtp:// (STARTTLS) for this port, or smtps:// on port 465'
        : 'the server answered STARTTLS but did not start TLS';
  } else if (w?.failure === 'timeout') {
    hint = 'the server did not complete the handshake in time';
  } else if (w?.failure === 'closed' || w?.code === 'ECONNRESET') {
    hint =
      s.step === 'tls'
        ? 'the server closed the connection during the handshake: is this port implicit TLS (465)? otherwise use smtp://'
        : 'the server closed the connection during the handshake';
  }
  return new ProbeFailure(
    'TLSHandshakeFailed',
    `the TLS handshake with ${endpointAddress(s.endpoint)} failed (${printable(detail, 80)}): ${hint}`,
  );
}

async function ehlo(s: Session): Promise<void> {
  s.step = 'ehlo';
  const name = s.opts.localName ?? defaultLocalName();
  let r = await command(s, `EHLO ${name}`);
  if (r.code !== 250) {
    // RFC 5321 §3.2: a server that does not know EHLO gets HELO (and offers no extensions).
    const helo = await command(s, `HELO ${name}`);
    if ([500, 502].includes(r.code) && [500, 502].includes(helo.code)) {
      throw new ProbeFailure(
        'UnexpectedGreeting',
        `${endpointAddress(s.endpoint)} greets like SMTP but knows neither EHLO nor HELO (${r.code}): it is not an SMTP server (FTP greets with 220 too); ${hintForPeer('unknown', s.endpoint.scheme)}`,
      );
    }
    if (helo.code !== 250) {
      throw new ProbeFailure(
        'UnexpectedGreeting',
        `the server refused EHLO (${r.code}) and HELO (${helo.code}) for the name ${name}: set spec.smtp.localName to a name it accepts`,
      );
    }
    r = { code: 250, lines: [helo.lines[0] ?? ''] };
  }
  // RFC 5321 ehlo-line syntax only: anything else is not an extension and is not kept.
  s.result.extensions = r.lines
    .slice(1)
    .filter((l) => EHLO_LINE.test(l))
    .map((l) => printable(l, 120));
  const mechs = new Set<string>();
  for (const ext of s.result.extensions) {
    const m = /^AUTH[ =](.*)$/i.exec(ext);
    if (m) for (const mech of m[1]!.trim().split(/\s+/)) mechs.add(mech.toUpperCase());
  }
  s.result.authMechanisms = [...mechs];
}

async function auth(s: Session): Promise<void> {
  const { username, password } = s.endpoint;
  if (username === undefined || password === undefined) {
    s.notes.push('no credentials in the URI, AUTH not tried');
    return;
  }
  if (!s.opts.authenticate) {
    s.notes.push('AUTH skipped (authenticate: false)');
    return;
  }
  s.step = 'auth';
  const mech = chooseMechanism(s.result.authMechanisms);
  if (!mech) {
    const offered = s.result.authMechanisms.length
      ? `it offers only ${s.result.authMechanisms.join(', ')}`
      : 'it announces no AUTH';
    const tlsHint =
      s.endpoint.security === 'Plaintext'
        ? ' (many servers offer AUTH only after STARTTLS: drop disable_starttls)'
        : '';
    throw new ProbeFailure(
      'AuthenticationNotOffered',
      `credentials are given but the server offers no usable AUTH mechanism: ${offered}; Mailroom speaks PLAIN, LOGIN and CRAM-MD5${tlsHint}`,
    );
  }
  const { reply: r, ok } = await authenticate(mech, username, password, (line) => command(s, line));
  if (!ok) {
    const temporary = r.code >= 400 && r.code < 500;
    throw new ProbeFailure(
      'AuthenticationFailed',
      `the server rejected AUTH ${mech} with ${codes(r)}${temporary ? ' (temporary: try again later)' : ''}: check the user name and password in the Secret (percent-encode special characters), and whether the provider wants an app password or API key`,
    );
  }
  s.result.authMechanism = mech;
  s.notes.push(`AUTH ${mech} accepted`);
}

async function checkSender(s: Session): Promise<void> {
  s.step = 'sender';
  const from = s.opts.from;
  if (!from)
    throw new ProbeFailure('SenderRejected', 'checkSender needs a sender address (from.address or --from)');
  const r = await command(s, `MAIL FROM:<${from}>`);
  if (r.code === 530) {
    throw new ProbeFailure(
      'AuthenticationFailed',
      `the server requires authentication before MAIL FROM (530): add user:password to the URI${s.opts.authenticate ? '' : ' and turn authenticate on'}`,
    );
  }
  if (r.code !== 250) {
    throw new ProbeFailure(
      'SenderRejected',
      `the server refused the sender ${from} with ${codes(r)}: the account may not be allowed to send as this address or domain; verify the domain with the provider`,
    );
  }
  s.notes.push(`sender ${from} accepted`);
  await command(s, 'RSET');
}

const EHLO_LINE = /^[A-Za-z0-9][A-Za-z0-9-]*( [\x21-\x7e]+)*$/;

/**
 * The reply code and enhanced status code (RFC 3463), never the text: a server's text may echo what
 * the client sent (credentials) or name internal hosts, and messages go into status and Events.
 */
function codes(r: Reply): string {
  const enhanced = /^[245]\.\d{1,3}\.\d{1,3}\b/.exec(r.lines[0] ?? '')?.[0];
  return enhanced ? `${r.code} ${enhanced}` : String(r.code);
}

/** Time at the end of the greeting wait kept for a nudge (see {@link readGreeting}). */
const NUDGE_MS = 500;

/**
 * Reads the greeting. A peer that waits for the client to speak first (HTTP, TLS) sends nothing: near
 * the deadline it gets a nudge (an EHLO line) so that its answer tells what it is.
 */
async function readGreeting(s: Session): Promise<Reply> {
  s.step = 'greeting';
  const conn = s.conn!;
  const left = remaining(s);
  const nudge = Math.min(NUDGE_MS, Math.floor(left / 5));
  let silence: unknown;
  try {
    return await conn.readReply(left - nudge);
  } catch (err) {
    if (!(err instanceof WireError) || err.failure !== 'timeout' || conn.head.length > 0) {
      throw wireFailure(s, err);
    }
    silence = err;
  }
  conn.write(`EHLO ${s.opts.localName ?? defaultLocalName()}`);
  // A TLS server closes on plain text without a word: only a TLS handshake of its own tells it apart.
  const [, tlsPeer] = await Promise.all([
    conn.readReply(nudge).catch(() => undefined),
    s.endpoint.scheme === 'smtp' ? speaksTls(() => dial(s, nudge), nudge) : false,
  ]);
  if (tlsPeer && conn.head.length === 0)
    throw notSmtp(s, 'TLS', 'silent until spoken to; a diagnostic TLS handshake was answered');
  const kind = classifyPeer(conn.head);
  if (kind && kind !== 'SMTP') throw notSmtp(s, kind);
  throw wireFailure(s, silence);
}

function notSmtp(s: Session, kind: PeerKind, how = `answered ${stepLabel(s.step)}`): ProbeFailure {
  return new ProbeFailure(
    'UnexpectedGreeting',
    `${endpointAddress(s.endpoint)} ${describePeer(kind)}, not SMTP (${how}): ${hintForPeer(kind, s.endpoint.scheme)}`,
  );
}

async function command(s: Session, line: string): Promise<Reply> {
  try {
    return await s.conn!.command(line, remaining(s));
  } catch (err) {
    throw wireFailure(s, err);
  }
}

function wireFailure(s: Session, err: unknown): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  if (!(err instanceof WireError)) return unexpected(err);
  const where = stepLabel(s.step);
  const e = s.endpoint;
  switch (err.failure) {
    case 'timeout': {
      const hint =
        s.step === 'greeting' && e.scheme === 'smtp' && e.port === 465
          ? ': port 465 expects TLS first, use smtps://'
          : s.step === 'greeting'
            ? ': is this an SMTP port? (587 STARTTLS, 465 implicit TLS, 25 relay)'
            : '';
      return new ProbeFailure(
        'ConnectionTimeout',
        `connected to ${endpointAddress(e)}, but the server sent no answer ${where} within the time limit${hint}`,
      );
    }
    case 'garbage':
    case 'overflow': {
      if (s.step === 'auth')
        return new ProbeFailure(
          'AuthenticationFailed',
          `the server answered ${where} with something that is not an SMTP reply`,
        );
      const kind = classifyPeer(s.conn?.head ?? Buffer.alloc(0));
      if (kind && kind !== 'SMTP') return notSmtp(s, kind);
      return new ProbeFailure(
        'UnexpectedGreeting',
        `the server answered ${where} with something that is not SMTP: is this an SMTP port${e.scheme === 'smtp' ? ', or does it expect TLS first (smtps://)' : ''}?`,
      );
    }
    default: {
      const kind = s.step === 'greeting' ? classifyPeer(s.conn?.head ?? Buffer.alloc(0)) : undefined;
      if (kind && kind !== 'SMTP') return notSmtp(s, kind);
      const reason: ProbeReason =
        s.step === 'auth'
          ? 'AuthenticationFailed'
          : s.step === 'sender'
            ? 'SenderRejected'
            : 'UnexpectedGreeting';
      return new ProbeFailure(
        reason,
        `the server closed the connection ${where}${err.code ? ` (${err.code})` : ''}: it may be refusing this client (rate limit, IP block) or not speak SMTP on this port`,
      );
    }
  }
}

function stepLabel(step: ProbeStep): string {
  const labels: Record<ProbeStep, string> = {
    parse: 'while parsing',
    dns: 'while resolving the host',
    connect: 'while connecting',
    tls: 'during the TLS handshake',
    greeting: 'before its greeting',
    ehlo: 'to EHLO',
    starttls: 'to STARTTLS',
    auth: 'to AUTH',
    sender: 'to MAIL FROM',
    quit: 'to QUIT',
  };
  return labels[step];
}

function describeSecurity(s: Session): string {
  const { result: r, endpoint: e } = s;
  const where = endpointAddress(e);
  const version = r.tls ? ` (${r.tls.version})` : '';
  const cert = r.tls?.certificate;
  const parts: string[] = [];
  switch (e.security) {
    case 'StartTLS':
      parts.push(`STARTTLS${version} to ${where}`);
      break;
    case 'StartTLSInsecure':
      parts.push(`STARTTLS${version} to ${where}, certificate NOT verified`);
      break;
    case 'ImplicitTLS':
      parts.push(`implicit TLS${version} to ${where}`);
      break;
    case 'ImplicitTLSInsecure':
      parts.push(`implicit TLS${version} to ${where}, certificate NOT verified`);
      break;
    case 'Plaintext':
      parts.push(`cleartext (no TLS) to ${where}`);
      break;
  }
  if (cert && verifiesCertificate(e.security))
    parts.push(`certificate valid until ${cert.notAfter.slice(0, 10)}`);
  if (!usesTls(e.security) && r.extensions.some((x) => x.toUpperCase() === 'STARTTLS')) {
    parts.push('the server offers STARTTLS but disable_starttls=true keeps the connection in cleartext');
  }
  return parts.join('; ');
}
