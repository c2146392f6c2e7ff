/**
 * When the webhook's CA and serving certificate are renewed: a pure decision over what the Secret
 * holds, the clock and the policy.
 *
 * Each is renewed once less than a third of its lifetime is left. A new CA first joins the trust
 * bundle (the `caBundle` the API server verifies with) beside the old one, and signs serving
 * certificates only after `propagationMs`, once the API server has had time to see the new bundle;
 * until then the old certificate, still valid, is served. Expired CAs leave the bundle.
 *
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** What the Secret holds (all PEM). */
export interface TlsMaterial {
  caCert: string;
  caKey: string;
  /** When the active CA was made (ms since the epoch). */
  caSince: number;
  cert: string;
  key: string;
  /** CAs the API server should trust: the active one, and the previous one while it is valid. */
  bundle: string;
}

/** How long things live. */
export interface RotationPolicy {
  /** Names (DNS or IP) the serving certificate must carry. */
  names: string[];
  caValidityMs: number;
  certValidityMs: number;
  /** How long a new CA sits in the bundle before it signs the served certificate. */
  propagationMs: number;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

function parse(pem: string | undefined): X509Certificate | undefined {
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

const remaining = (c: X509Certificate, now: number) => Date.parse(c.validTo) - now;
const hasName = (c: X509Certificate, n: string) => (isIP(n) ? c.checkIP(n) : c.checkHost(n)) !== undefined;

/** Whether `cert` covers every name and was signed by `ca`. */
function fits(cert: X509Certificate, ca: X509Certificate, names: string[]): boolean {
  return names.every((n) => hasName(cert, n)) && cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

function bundleOf(cas: X509Certificate[], now: number): string {
  const seen = new Set<string>();
  return cas
    .filter((c) => remaining(c, now) > 0 && !seen.has(c.fingerprint256) && seen.add(c.fingerprint256))
    .map((c) => c.toString().trim())
    .join('\n')
    .concat('\n');
}

// Issuing runs in a child process (@peculiar/x509 would stay in this one for good, ~5 MB of RSS);
// a webhook whose certificate is current (every restart but the first) only reads certificates,
// which node:crypto does.
const pki = () => import('../runtime/pki-apart.ts');

/**
 * The material to store and serve at `now`: `current` itself when nothing is due, else a renewed copy.
 * Async only because issuing is.
 *
 * @example
 * const next = await rotate(current, Date.now(), policy);
 * if (next !== current) await store.write(next);
 */
export async function rotate(
  current: TlsMaterial | undefined,
  now: number,
  policy: RotationPolicy,
): Promise<TlsMaterial> {
  let ca = parse(current?.caCert);
  let caKey = current?.caKey;
  let caSince = current?.caSince ?? now;
  const previous = [...(current?.bundle.match(PEM_BLOCK) ?? [])].map(parse).filter((c) => c !== undefined);
  let changed = false;

  if (!ca || !caKey || remaining(ca, now) < policy.caValidityMs / 3) {
    const { createCAApart } = await pki();
    const fresh = await createCAApart('Mailroom Webhook CA', {
      notAfter: new Date(now + policy.caValidityMs),
    });
    ca = new X509Certificate(fresh.cert);
    caKey = fresh.key;
    caSince = now;
    changed = true;
  }
  const bundle = bundleOf([ca, ...previous], now);
  if (bundle !== current?.bundle) changed = true;

  let cert = current?.cert;
  let key = current?.key;
  const leaf = parse(cert);
  const usable = leaf && remaining(leaf, now) > 0 && policy.names.every((n) => hasName(leaf, n));
  const due = !usable || remaining(leaf, now) < policy.certValidityMs / 3 || !fits(leaf, ca, policy.names);
  // A leaf of the new CA before the API server trusts it would fail every call; keep the old one.
  const caTooNew = now - caSince < policy.propagationMs && usable;
  if (due && !caTooNew) {
    const { issueApart } = await pki();
    const notAfter = Math.min(now + policy.certValidityMs, Date.parse(ca.validTo));
    const issued = await issueApart(
      { cert: ca.toString(), key: caKey },
      {
        names: policy.names,
        notAfter: new Date(notAfter),
      },
    );
    cert = issued.cert;
    key = issued.key;
    changed = true;
  }
  if (!changed && current) return current;
  return { caCert: ca.toString(), caKey, caSince, cert: cert!, key: key!, bundle };
}
