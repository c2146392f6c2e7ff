/**
 * Why a TLS handshake failed, named precisely enough to say what to change and on which side.
 *
 * Node reports most failed handshakes as one TLS alert or a closed socket, yet the real causes need
 * different fixes: a server that speaks only TLS 1.0/1.1 (Node refuses them, and `skip_ssl_verify`
 * does not help), a server that demands a client certificate, no cipher in common. Where the first
 * handshake cannot tell them apart, a second, diagnostic handshake is made that allows everything
 * OpenSSL can still speak (TLS 1.0 and every cipher at security level 0); what the server agrees to
 * there names the cause. That handshake only learns: it never carries a command, and its result
 * never makes a probe pass.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

// node:tls loads when a diagnosis runs, not with this module (see trust.ts).
const tlsConnect = (options: ConnectionOptions) => process.getBuiltinModule('node:tls').connect(options);

/** What the first handshake showed, besides the error. */
export interface HandshakeEvidence {
  /** The OpenSSL error code Node reported (`ERR_SSL_…`), when there was one. */
  code?: string;
  /** The failure kind of the wire layer (`closed`, `timeout`, `socket`). */
  failure?: string;
  /** Key material was derived: the server got past ServerHello before refusing. */
  keysDerived: boolean;
}

/** The outcome of a diagnostic handshake: what the server agreed to, or nothing. */
export interface DiagnosticOutcome {
  version: string;
  cipher: string;
}

/** Options of the diagnostic handshake: every protocol version and cipher OpenSSL still has. */
export const DIAGNOSTIC_TLS: ConnectionOptions = {
  minVersion: 'TLSv1',
  // OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 signatures) and weak ciphers above security level 0.
  ciphers: 'ALL:@SECLEVEL=0',
  rejectUnauthorized: false,
};

/** An alert that the server refused a missing or unacceptable client certificate. */
const CLIENT_CERT_ALERT = /CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_ACCESS_DENIED/;
/** The server (or Node) found no protocol version in common. */
const VERSION_ALERT = /ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE/;

/** True when `code` says the server refused to go on without a client certificate. */
export function isClientCertificateAlert(code: string | undefined): boolean {
  return !!code && CLIENT_CERT_ALERT.test(code);
}

/**
 * Whether a failed handshake needs a diagnostic one to be named: a protocol-version refusal, a
 * handshake_failure alert before any key was derived (version or cipher), or a server that just
 * hung up.
 */
export function needsDiagnosticHandshake(e: HandshakeEvidence): boolean {
  if (isClientCertificateAlert(e.code)) return false;
  if (e.code && VERSION_ALERT.test(e.code)) return true;
  if (e.code && /ALERT_HANDSHAKE_FAILURE|NO_SHARED_CIPHER|NO_CIPHERS_AVAILABLE/.test(e.code))
    return !e.keysDerived;
  return e.failure === 'closed' || e.code === 'ECONNRESET';
}

/**
 * Runs a diagnostic handshake on a socket from `open` (a fresh TCP connection, or one that has just
 * been through STARTTLS), then closes it. Resolves undefined when the server refused that too.
 */
export async function diagnosticHandshake(
  open: () => Promise<Socket>,
  servername: string | undefined,
  timeoutMs: number,
): Promise<DiagnosticOutcome | undefined> {
  const deadline = Date.now() + timeoutMs;
  let socket: Socket;
  try {
    socket = await open();
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    const tls = tlsConnect({ ...DIAGNOSTIC_TLS, socket, ...(servername ? { servername } : {}) });
    const done = (outcome: DiagnosticOutcome | undefined) => {
      clearTimeout(timer);
      tls.destroy();
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done(undefined), Math.max(0, deadline - Date.now()));
    tls.once('secureConnect', () => {
      const cipher = tls.getCipher();
      done({
        version: tls.getProtocol() ?? 'unknown',
        cipher: cipher?.standardName ?? cipher?.name ?? 'unknown',
      });
    });
    tls.on('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}

/**
 * Whether something that stays silent at the greeting is a TLS server: a handshake on a fresh
 * connection that completes, or ends in a TLS alert, says so.
 */
export async function speaksTls(open: () => Promise<Socket>, timeoutMs: number): Promise<boolean> {
  let socket: Socket;
  try {
    socket = await open();
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const tls = tlsConnect({ ...DIAGNOSTIC_TLS, socket });
    const done = (yes: boolean) => {
      clearTimeout(timer);
      tls.destroy();
      socket.destroy();
      resolve(yes);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    tls.once('secureConnect', () => done(true));
    tls.on('error', (err: NodeJS.ErrnoException) => done(/^ERR_SSL_.*ALERT/.test(err.code ?? '')));
    socket.once('close', () => done(false));
  });
}

/** True for TLS versions Node refuses by default (older than 1.2). */
export function isLegacyVersion(version: string): boolean {
  return version === 'TLSv1' || version === 'TLSv1.1' || version === 'SSLv3';
}

/**
 * The message for a failed handshake, given the evidence and the diagnostic outcome (undefined
 * when no diagnostic handshake was made or it failed too). `where` is `host:port`.
 */
export function explainHandshake(
  where: string,
  e: HandshakeEvidence,
  diagnostic: DiagnosticOutcome | undefined,
  diagnosed: boolean,
): string | undefined {
  const prefix = `the TLS handshake with ${where} failed`;
  if (isClientCertificateAlert(e.code) || (e.keysDerived && /ALERT_HANDSHAKE_FAILURE/.test(e.code ?? ''))) {
    return clientCertificateMessage(where);
  }
  if (diagnostic && isLegacyVersion(diagnostic.version)) {
    return `${prefix}: the server speaks only ${diagnostic.version} (a diagnostic handshake that allowed TLS 1.0 agreed on ${diagnostic.version}, ${diagnostic.cipher}); Node refuses TLS older than 1.2 and skip_ssl_verify does not change that: enable TLS 1.2 or newer on the server`;
  }
  if (diagnostic) {
    return `${prefix}: no cipher in common (a diagnostic handshake that allowed every cipher agreed on ${diagnostic.version} with ${diagnostic.cipher}, which Node does not offer); skip_ssl_verify does not change that: enable ECDHE with AES-GCM or ChaCha20-Poly1305 ciphers on the server`;
  }
  if (diagnosed && e.code && /ALERT_HANDSHAKE_FAILURE|NO_SHARED_CIPHER/.test(e.code)) {
    return `${prefix} (${e.code}): the server refused the handshake before agreeing on a cipher, and refused a diagnostic handshake that allowed TLS 1.0 and every cipher too: its TLS configuration (certificate, key, ciphers) is likely broken; check the server's TLS log`;
  }
  return undefined;
}

/** The message when the server demands a client certificate (said the same way whenever it shows). */
export function clientCertificateMessage(where: string): string {
  return `the server at ${where} demands a TLS client certificate, and Mailroom presents none: on the server, stop requiring client certificates on this port (e.g. Postfix smtpd_tls_req_ccert = no, or ask for one without requiring it), or use a port meant for authenticated submission (587 or 465)`;
}
