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

import { redactSecrets } from '../runtime/redact.ts';
import { printable, type Reply, SmtpConnection, WireError } from './connection.ts';
import { classifyPeer, hintForPeer } from './peer-kind.ts';
import { codes, notSmtp, ProbeFailure, starttlsRefused, unexpected, wireFailure } from './probe-failure.ts';
import type { ProbeResult } from './probe-result.ts';
import {
  command,
  connectTcp,
  context,
  defaultLocalName,
  dial,
  type ProbeOptions,
  remaining,
  type Session,
} from './probe-session.ts';
import { startTls } from './probe-tls.ts';
import { authenticate, chooseMechanism } from './sasl.ts';
import { speaksTls } from './tls-diagnosis.ts';
import { Transcript } from './transcript.ts';
import {
  endpointAddress,
  type ParsedUri,
  type SmtpEndpoint,
  usesTls,
  verifiesCertificate,
  warningsFor,
} from './uri.ts';

export { defaultLocalName, type ProbeOptions } from './probe-session.ts';

/**
 * Probes the server a parsed URI names. The URI is parsed once, where it enters the process
 * (`smtpUriSchema` in `api/secret-values.ts`), and carried here typed; a refused URI never gets this
 * far (see {@link invalidUriResult}).
 */
export function probeUri(uri: ParsedUri, opts: ProbeOptions = {}): Promise<ProbeResult> {
  return probe(uri.endpoint, opts);
}

/** The result of a probe that could not start because its input was refused (`InvalidURI`). */
export function invalidUriResult(message: string): ProbeResult {
  return {
    ok: false,
    reason: 'InvalidURI',
    message,
    step: 'parse',
    durationMs: 0,
    extensions: [],
    authMechanisms: [],
    warnings: [],
  };
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
  if (opts.transcript) s.transcript = new Transcript([endpoint.password, endpoint.username]);
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
    s.result.step = failure.step ?? s.step;
    if (failure.replyCode !== undefined) s.result.replyCode = failure.replyCode;
    s.transcript?.event(`probe failed: ${failure.reason}`);
    s.result.durationMs = Math.round(performance.now() - started);
    s.result.message = redactSecrets(`${failure.message}`, [endpoint.password, endpoint.username]);
  } finally {
    s.conn?.destroy();
  }
  if (s.transcript) s.result.transcript = s.transcript.lines();
  return s.result;
}

async function run(s: Session): Promise<void> {
  const { endpoint: e } = s;
  const socket = await connectTcp(s);
  s.transcript?.event(`connected to ${endpointAddress(e)} (${socket.remoteAddress}:${socket.remotePort})`);
  s.conn = new SmtpConnection(socket, s.transcript);
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
    if (r.code !== 220) throw starttlsRefused(r);
    await startTls(s, 'starttls');
    await ehlo(s);
  }
  await auth(s);
  if (s.opts.checkSender) await checkSender(s);
  s.step = 'quit';
  await s.conn.close(Math.min(500, Math.max(50, s.deadline - Date.now())));
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
  const { reply: r, ok } = await authenticate(mech, username, password, (line) => command(s, line, true));
  if (!ok) {
    const temporary = r.code >= 400 && r.code < 500;
    throw new ProbeFailure(
      'AuthenticationFailed',
      `the server rejected AUTH ${mech} with ${codes(r)}${temporary ? ' (temporary: try again later)' : ''}: check the user name and password in the Secret (percent-encode special characters), and whether the provider wants an app password or API key`,
      undefined,
      r.code,
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
      undefined,
      r.code,
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
      throw wireFailure(context(s), err);
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
    throw notSmtp(context(s), 'TLS', 'silent until spoken to; a diagnostic TLS handshake was answered');
  const kind = classifyPeer(conn.head);
  if (kind && kind !== 'SMTP') throw notSmtp(context(s), kind);
  throw wireFailure(context(s), silence);
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
