/**
 * The closed set of reasons a probe ends with: one per way a real SMTP setup fails. They become the
 * `Ready` condition's reason, the `mailroom probe` result and the metrics label, so the set is
 * documented here and nowhere else invents one.
 *
 * @module
 */

export const PROBE_REASONS = {
  Verified: 'Connected, secured, authenticated (and sender accepted) exactly as sending will.',
  InvalidURI: 'The connection URI does not parse; the message names the part and the fix.',
  DNSLookupFailed: 'The host name does not resolve.',
  ConnectionRefused: 'Nothing listens on host:port (TCP reset) or the network is unreachable.',
  ConnectionTimeout: 'No TCP connection, or no answer from the server, within the timeout.',
  UnexpectedGreeting: 'The server did not greet with 220 or did not answer EHLO/HELO as SMTP.',
  STARTTLSNotOffered:
    'STARTTLS is required but the server does not offer it, or answers it with 4xx (its TLS is broken) or 5xx.',
  TLSHandshakeFailed:
    'The TLS handshake failed: the server speaks only TLS 1.0/1.1, has no cipher in common, demands a client certificate, or the port does not speak TLS.',
  CertificateUntrusted: 'The certificate does not chain to a trusted CA.',
  CertificateHostnameMismatch: 'The certificate is valid but names another host.',
  CertificateExpired: 'The certificate is expired or not yet valid.',
  AuthenticationFailed: 'The server rejected the credentials, or requires credentials the URI does not give.',
  AuthenticationNotOffered: 'Credentials are given but the server offers no AUTH mechanism Mailroom can use.',
  SenderRejected: 'The server refused MAIL FROM with the sender address.',
} as const;

export type ProbeReason = keyof typeof PROBE_REASONS;

/** Reasons that only a change by the user can clear (they also set `Stalled=True`). */
export const STALLING_REASONS = ['InvalidURI'] as const satisfies readonly ProbeReason[];
