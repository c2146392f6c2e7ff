/**
 * Maps an {@link SmtpEndpoint} onto nodemailer's pooled SMTP transport options, so delivery speaks
 * exactly the security mode the controller's probe verified, and trusts exactly the same CAs.
 *
 * | security              | nodemailer                                   |
 * |-----------------------|----------------------------------------------|
 * | `StartTLS`            | `requireTLS` (never falls back to cleartext) |
 * | `StartTLSInsecure`    | `requireTLS`, `tls.rejectUnauthorized: false`|
 * | `Plaintext`           | `ignoreTLS` (even when STARTTLS is offered)  |
 * | `ImplicitTLS`         | `secure: true`                               |
 * | `ImplicitTLSInsecure` | `secure: true`, `tls.rejectUnauthorized: false` |
 *
 * @module
 */

import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import type { SMTPPoolOptions } from 'nodemailer/lib/smtp-pool';
import { trustedCAs } from './trust.ts';
import { type SmtpEndpoint, tlsServerName, usesTls, verifiesCertificate } from './uri.ts';

/** Options of {@link transportOptions} beyond the endpoint. */
export interface TransportSettings {
  /** EHLO name; default the host name (never `localhost`, which many servers refuse or score). */
  localName?: string;
  /** Extra trusted CA certificates (PEM), as in `spec.smtp.caSecretRef` / `--ca-file`. */
  ca?: string;
  /** Pooled connections at most; default 4. */
  maxConnections?: number;
  /** Messages per connection before it is replaced; default 1000. */
  maxMessages?: number;
  /** Time limits in milliseconds; defaults suit a busy relay (connect 15 s, greeting 15 s, socket 60 s). */
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** DKIM signing of every message (rendered config `dkim`): nodemailer signs RSA keys. */
  dkim?: { domain: string; selector: string; privateKey: string };
}

/**
 * The EHLO name to announce: `preferred` when given, else the machine's host name, else a name
 * derived from nothing local (`mailroom.invalid`), but never `localhost`.
 */
export function ehloName(preferred?: string): string {
  if (preferred) return preferred;
  const host = hostname();
  if (host && host !== 'localhost' && !host.startsWith('localhost.')) return host;
  return 'mailroom.invalid';
}

/**
 * Builds pooled nodemailer options for an endpoint. Pure apart from reading the host name and the
 * trust store, so a unit test can pin every security mode.
 *
 * @example
 * const { endpoint } = parseSmtpUri('smtp://u:p@smtp.example.com/');
 * nodemailer.createTransport(transportOptions(endpoint, { localName: 'app.example.com' }));
 */
export function transportOptions(
  endpoint: SmtpEndpoint,
  settings: TransportSettings = {},
): SMTPPoolOptions & { pool: true } {
  const { security } = endpoint;
  const tls: ConnectionOptions = {};
  if (usesTls(security)) {
    tls.ca = trustedCAs(settings.ca, 'the CA bundle of the sender');
    tls.rejectUnauthorized = verifiesCertificate(security);
    tls.minVersion = 'TLSv1.2';
    const name = tlsServerName(endpoint);
    if (isIP(name) === 0) {
      // SNI and the certificate check both use `servername`.
      tls.servername = name;
    } else if (name !== endpoint.host) {
      // SNI cannot carry an IP address (RFC 6066), so the name check is pinned explicitly.
      tls.checkServerIdentity = (_host, cert) =>
        process.getBuiltinModule('node:tls').checkServerIdentity(name, cert);
    }
  }
  const options: SMTPPoolOptions & { pool: true } = {
    pool: true,
    host: endpoint.host,
    port: endpoint.port,
    secure: security === 'ImplicitTLS' || security === 'ImplicitTLSInsecure',
    requireTLS: security === 'StartTLS' || security === 'StartTLSInsecure',
    ignoreTLS: security === 'Plaintext',
    name: ehloName(settings.localName),
    tls,
    maxConnections: settings.maxConnections ?? 4,
    maxMessages: settings.maxMessages ?? 1000,
    connectionTimeout: settings.connectionTimeoutMs ?? 15_000,
    greetingTimeout: settings.greetingTimeoutMs ?? 15_000,
    socketTimeout: settings.socketTimeoutMs ?? 60_000,
    // A message whose connection drops is handed back to the caller, which records the attempt and
    // schedules the retry itself (with backoff), instead of being silently re-sent by the pool.
    maxRequeues: 0,
    logger: false,
    debug: false,
  };
  if (endpoint.username !== undefined) {
    options.auth = { user: endpoint.username, pass: endpoint.password ?? '' };
  }
  if (settings.dkim) {
    const { domain, selector, privateKey } = settings.dkim;
    options.dkim = { domainName: domain, keySelector: selector, privateKey };
  }
  return options;
}
