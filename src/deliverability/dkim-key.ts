/**
 * DKIM keys: making a pair, and turning a private key into the TXT record that publishes its public
 * half (`v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>`, RFC 6376 §3.6.1).
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';

// node:crypto when a key is read or made, not with this module: the sidecar imports it for configs
// that sign, and an idle sidecar whose config does not sign never loads node:crypto (~4 MB resident).
const crypto = () => process.getBuiltinModule('node:crypto');

/** Key types a DKIM signer and receivers both support. */
export const DKIM_KEY_TYPES = ['rsa', 'ed25519'] as const;
export type DkimKeyType = (typeof DKIM_KEY_TYPES)[number];

/** A key pair and where its public half goes in DNS. */
export interface DkimKeyPair {
  /** PKCS#8 PEM private key: what goes into the Secret named by `spec.dkim.privateKeySecretRef`. */
  privateKeyPem: string;
  /** The TXT record to publish. */
  record: DkimRecord;
}

/** A DKIM TXT record: name and value. */
export interface DkimRecord {
  /** `selector._domainkey.domain` */
  name: string;
  /** `v=DKIM1; k=rsa; p=…` */
  value: string;
}

/** The DNS name a selector's key lives at. */
export const dkimRecordName = (selector: string, domain: string): string =>
  `${selector}._domainkey.${domain.replace(/\.$/, '')}`;

/** Parses a PEM private key, with an error that says what was expected (never the key itself). */
export function loadPrivateKey(pem: string): KeyObject {
  try {
    const key = crypto().createPrivateKey(pem);
    const type = key.asymmetricKeyType;
    if (type !== 'rsa' && type !== 'ed25519')
      throw new Error(`key type ${type ?? 'unknown'} cannot sign DKIM (use rsa or ed25519)`);
    return key;
  } catch (err) {
    throw new Error(
      `DKIM private key is not a usable PEM key: ${(err as Error).message.split('\n')[0]} (expected "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----")`,
      { cause: err },
    );
  }
}

/**
 * The TXT record value that publishes the public half of `privateKey`.
 *
 * Ed25519 keys are published as the bare 32-byte key (RFC 8463), RSA keys as the DER
 * SubjectPublicKeyInfo, which is what every receiver accepts.
 */
export function dkimRecordValue(privateKey: KeyObject | string): string {
  const key = typeof privateKey === 'string' ? loadPrivateKey(privateKey) : privateKey;
  const pub = crypto().createPublicKey(key);
  if (key.asymmetricKeyType === 'ed25519') {
    const der = pub.export({ type: 'spki', format: 'der' });
    // The SPKI of an Ed25519 key is a fixed 12-byte prefix and the 32-byte key.
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${pub.export({ type: 'spki', format: 'der' }).toString('base64')}`;
}

/** Options for {@link generateDkimKey}. */
export interface GenerateOptions {
  selector: string;
  domain: string;
  /** Default rsa: Ed25519 DKIM is not verified by every large receiver yet. */
  type?: DkimKeyType;
  /** RSA modulus length; 2048 is what providers recommend (1024 is weak, 4096 rarely fits DNS UIs). */
  bits?: number;
}

/**
 * Generates a DKIM key pair and the record to publish.
 *
 * @example
 * const { privateKeyPem, record } = generateDkimKey({ selector: 'mailroom', domain: 'example.com' });
 */
export function generateDkimKey(opts: GenerateOptions): DkimKeyPair {
  const type = opts.type ?? 'rsa';
  const { privateKey } =
    type === 'ed25519'
      ? crypto().generateKeyPairSync('ed25519')
      : crypto().generateKeyPairSync('rsa', { modulusLength: opts.bits ?? 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    record: { name: dkimRecordName(opts.selector, opts.domain), value: dkimRecordValue(privateKey) },
  };
}

/**
 * Splits a TXT value into ≤255-byte character-strings, quoted as zone files and most DNS consoles
 * want them: a 2048-bit RSA key does not fit one string.
 */
export function zoneFileText(value: string): string {
  return (value.match(/.{1,255}/gs) ?? ['']).map((c) => `"${c}"`).join(' ');
}
