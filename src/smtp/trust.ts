/**
 * The certificate authorities Mailroom trusts for an SMTP server: Node's bundled roots, the system
 * store, `NODE_EXTRA_CA_CERTS` (Node's own convention), plus an optional PEM bundle per sender
 * (`spec.smtp.caSecretRef` or `--ca-file`). Probe and delivery use the same list, so a probe that
 * passes means sending will trust the server too.
 *
 * @module
 */

let base: string[] | undefined;

function baseCAs(): string[] {
  // 'default' already holds the bundled roots plus NODE_EXTRA_CA_CERTS; 'system' adds the OS store.
  // node:tls, not an import: it loads node:crypto and OpenSSL's state (~7 MB resident), which a
  // sidecar whose upstream is plaintext, or not yet reached, never needs.
  const { getCACertificates } = process.getBuiltinModule('node:tls');
  base ??= [...new Set([...getCACertificates('default'), ...getCACertificates('system')])];
  return base;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into certificates; throws when it holds none. */
export function parsePemBundle(pem: string, source: string): string[] {
  const certs = pem.match(PEM_BLOCK) ?? [];
  if (certs.length === 0) {
    throw new Error(`${source} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)`);
  }
  return certs;
}

/** The CA list for `tls.connect({ ca })`: the base trust plus `extraPem` when given. */
export function trustedCAs(extraPem?: string, source = 'the CA bundle'): string[] {
  if (!extraPem) return baseCAs();
  return [...baseCAs(), ...parsePemBundle(extraPem, source)];
}
