/**
 * The TLS step of a probe (implicit TLS or after STARTTLS): the handshake, the certificate checks, and
 * the naming of a failed handshake, with a diagnostic handshake where only that can tell the cause.
 *
 * @module
 */
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { EXPIRING_SOON_MS, tlsFacts, verifyCertificate } from './certificate.ts';
import { printable, SmtpConnection, WireError } from './connection.ts';
import { classifyPeer, type PeerKind } from './peer-kind.ts';
import { notSmtp, ProbeFailure } from './probe-failure.ts';
import { defaultLocalName, dial, remaining, type Session } from './probe-session.ts';
import {
  type DiagnosticOutcome,
  diagnosticHandshake,
  explainHandshake,
  needsDiagnosticHandshake,
} from './tls-diagnosis.ts';
import { trustedCAs } from './trust.ts';
import { endpointAddress, tlsServerName, verifiesCertificate } from './uri.ts';

/** Runs the TLS handshake of step `step` and checks the certificate as the URI asks. */
export async function startTls(s: Session, step: 'tls' | 'starttls'): Promise<void> {
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
    throw await tlsFailure(s, err);
  }
  s.result.tls = tlsFacts(tls);
  s.transcript?.tls('TLS established', s.result.tls);
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

/**
 * Names a failed handshake. When the first one cannot tell a too-old server from one with no cipher
 * in common, a diagnostic handshake on a fresh connection (through STARTTLS again for smtp://) that
 * allows TLS 1.0 and every cipher asks the server what it would agree to.
 */
async function tlsFailure(s: Session, err: unknown): Promise<ProbeFailure> {
  if (err instanceof ProbeFailure) return err;
  const w = err instanceof WireError ? err : undefined;
  const where = endpointAddress(s.endpoint);
  const evidence = { code: w?.code, failure: w?.failure, keysDerived: w?.keysDerived ?? false };
  s.transcript?.event(`TLS handshake failed: ${w?.code ?? w?.failure ?? 'error'}`);
  const text = err instanceof Error ? err.message : String(err);
  if (/wrong version number|packet length too long|unknown protocol|http request/i.test(text)) {
    if (s.step === 'tls') {
      // What answers in plain text is named (an SSH or HTTP port is not fixed by smtp://).
      const kind = await sniffPlain(s, Math.min(1000, s.deadline - Date.now()));
      if (kind && kind !== 'SMTP' && kind !== 'TLS')
        return notSmtp(
          { endpoint: s.endpoint, step: s.step, head: Buffer.alloc(0) },
          kind,
          'a diagnostic connection read what it sends in plain text',
        );
    }
    return new ProbeFailure(
      'TLSHandshakeFailed',
      s.step === 'tls'
        ? `the TLS handshake with ${where} failed: the port answers in plain text, not TLS: use smtp:// (STARTTLS) for this port, or smtps:// on port 465`
        : `the TLS handshake with ${where} failed: the server answered STARTTLS with 220 but did not start TLS; fix the server`,
    );
  }
  let diagnostic: DiagnosticOutcome | undefined;
  let diagnosed = false;
  const left = s.deadline - Date.now();
  if (needsDiagnosticHandshake(evidence) && left > 50) {
    diagnosed = true;
    s.transcript?.event('diagnostic handshake on a new connection, allowing TLS 1.0 and every cipher');
    const name = tlsServerName(s.endpoint);
    diagnostic = await diagnosticHandshake(() => openForTls(s, left), isIP(name) ? undefined : name, left);
    s.transcript?.event(
      diagnostic
        ? `diagnostic handshake: ${diagnostic.version}, ${diagnostic.cipher}`
        : 'diagnostic handshake failed too',
    );
  }
  const explained = explainHandshake(where, evidence, diagnostic, diagnosed);
  if (explained) return new ProbeFailure('TLSHandshakeFailed', explained);
  const detail = printable(w?.code ?? w?.failure ?? text, 80);
  const hint =
    w?.failure === 'timeout'
      ? 'the server did not complete the handshake in time'
      : w?.failure === 'closed' || w?.code === 'ECONNRESET'
        ? s.step === 'tls'
          ? 'the server closed the connection during the handshake: is this port implicit TLS (465)? otherwise use smtp://'
          : 'the server closed the connection during the handshake'
        : 'check that the server supports TLS 1.2 or newer';
  return new ProbeFailure(
    'TLSHandshakeFailed',
    `the TLS handshake with ${where} failed (${detail}): ${hint}`,
  );
}

/** A fresh connection ready for a TLS handshake: TCP for smtps://, TCP + greeting + EHLO + STARTTLS for smtp://. */
async function openForTls(s: Session, timeoutMs: number): Promise<Socket> {
  const socket = await dial(s, timeoutMs);
  if (s.endpoint.scheme === 'smtps') return socket;
  const conn = new SmtpConnection(socket);
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  try {
    const ok =
      (await conn.readReply(left())).code === 220 &&
      (await conn.command(`EHLO ${s.opts.localName ?? defaultLocalName()}`, left())).code === 250 &&
      (await conn.command('STARTTLS', left())).code === 220;
    if (!ok) throw new Error('STARTTLS refused on the diagnostic connection');
  } catch (err) {
    conn.destroy();
    throw err;
  }
  return conn.release();
}

/**
 * Reads what the port sends in plain text on a fresh connection (nudging with EHLO halfway if it
 * stays silent) and names the protocol. Its bytes are only classified, never kept.
 */
async function sniffPlain(s: Session, timeoutMs: number): Promise<PeerKind | undefined> {
  if (timeoutMs < 50) return undefined;
  let socket: Socket;
  try {
    socket = await dial(s, timeoutMs);
  } catch {
    return undefined;
  }
  s.transcript?.event('diagnostic plain-text connection, to name what answers');
  const conn = new SmtpConnection(socket);
  try {
    await conn.readReply(timeoutMs / 2).catch(() => undefined);
    if (conn.head.length === 0) {
      conn.write(`EHLO ${s.opts.localName ?? defaultLocalName()}`);
      await conn.readReply(timeoutMs / 2).catch(() => undefined);
    }
    return classifyPeer(conn.head);
  } finally {
    conn.destroy();
  }
}
