/**
 * Certificate checks after a TLS handshake. The handshake itself runs with `rejectUnauthorized: false`
 * so the probe can tell an untrusted chain, an expired certificate and a name mismatch apart (Node
 * would report all three as one failed connect); the connection is dropped before any credential is
 * sent when a check fails.
 *
 * @module
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { CertificateFacts, TlsFacts } from './probe-result.ts';
import type { ProbeReason } from './reasons.ts';

/** Certificates expiring sooner than this raise a `CertificateExpiringSoon` warning. */
export const EXPIRING_SOON_MS = 14 * 86_400_000;

export interface CertificateVerdict {
  reason: Extract<ProbeReason, 'CertificateUntrusted' | 'CertificateHostnameMismatch' | 'CertificateExpired'>;
  message: string;
}

/** TLS facts of an established connection. */
export function tlsFacts(socket: TLSSocket): TlsFacts {
  const cipher = socket.getCipher();
  const facts: TlsFacts = {
    version: socket.getProtocol() ?? 'unknown',
    cipher: cipher?.standardName ?? cipher?.name ?? 'unknown',
  };
  const cert = socket.getPeerCertificate();
  if (cert && Object.keys(cert).length > 0) facts.certificate = certificateFacts(cert);
  return facts;
}

function certificateFacts(cert: PeerCertificate): CertificateFacts {
  const altNames = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter(Boolean)
    .map((n) => n.replace(/^(DNS|IP Address):/, ''));
  const cn = dnField(cert.subject?.CN);
  return {
    subject: cn ? `CN=${cn}` : distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    notAfter: new Date(cert.valid_to).toISOString(),
    sha256: cert.fingerprint256,
    altNames,
  };
}

function dnField(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join('+') : v;
}

function distinguishedName(dn: PeerCertificate['subject'] | undefined): string {
  if (!dn) return '';
  return Object.entries(dn)
    .map(([k, v]) => `${k}=${dnField(v as string | string[])}`)
    .join(', ');
}

/**
 * Checks validity dates, chain and name, in that order (an expired certificate is named as expired
 * even when its chain is also untrusted: renewing fixes both). Returns undefined when all pass.
 */
export function verifyCertificate(
  socket: TLSSocket,
  serverName: string,
  now = new Date(),
): CertificateVerdict | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return { reason: 'CertificateUntrusted', message: 'the server presented no certificate' };
  }
  const facts = certificateFacts(cert);
  const notBefore = new Date(cert.valid_from);
  const notAfter = new Date(cert.valid_to);
  const authError = authorizationCode(socket);
  if (notAfter.getTime() < now.getTime() || authError === 'CERT_HAS_EXPIRED') {
    return {
      reason: 'CertificateExpired',
      message: `the certificate of ${facts.subject} expired on ${notAfter.toISOString()}: renew it on the server (or, only for testing, use skip_ssl_verify=true)`,
    };
  }
  if (notBefore.getTime() > now.getTime() || authError === 'CERT_NOT_YET_VALID') {
    return {
      reason: 'CertificateExpired',
      message: `the certificate of ${facts.subject} is not valid before ${notBefore.toISOString()}: check the clocks of the server and of this machine`,
    };
  }
  // Node folds its own name check into `authorized` when SNI was sent; the name is judged below.
  if (!socket.authorized && authError !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      reason: 'CertificateUntrusted',
      message: `the certificate of ${facts.subject}, issued by ${facts.issuer || 'an unknown issuer'}, does not chain to a trusted CA (${authError ?? 'unverified'}): give the private CA with spec.smtp.caSecretRef (or --ca-file / NODE_EXTRA_CA_CERTS), make the server send its intermediate certificates, or, only for testing, use skip_ssl_verify=true`,
    };
  }
  const nameError = process.getBuiltinModule('node:tls').checkServerIdentity(serverName, cert);
  if (nameError) {
    const names = facts.altNames.length ? facts.altNames.join(', ') : facts.subject;
    return {
      reason: 'CertificateHostnameMismatch',
      message: `the certificate is for ${names}, not for ${serverName}: connect to a name on the certificate, or add ?server_name=<name on the certificate> to the URI`,
    };
  }
  return undefined;
}

function authorizationCode(socket: TLSSocket): string | undefined {
  const err: unknown = socket.authorizationError;
  if (!err) return undefined;
  if (typeof err === 'string') return err;
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message;
}
