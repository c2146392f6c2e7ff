/**
 * A small certificate authority: the local demo's mail sink, the webhook's serving certificate and the
 * test servers all need a CA and leaf certificates made on the spot, with chosen names and validity.
 *
 * @module
 */
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface CertificateAuthority extends KeyPair {
  /** Issues a leaf certificate signed by this CA. */
  issue(opts: LeafOptions): Promise<KeyPair>;
}

export interface LeafOptions {
  /** DNS names and IP addresses for the subjectAltName; the first is also the CN. */
  names: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** `client` for client authentication; default `server`. */
  usage?: 'server' | 'client';
}

let serial = Date.now();
const nextSerial = () => (serial++).toString(16).padStart(16, '0');

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

const generateKeys = () => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);

/**
 * Creates a CA. `notAfter` defaults to one year from now.
 *
 * @example
 * const ca = await createCA('Mailroom Test CA');
 * const { cert, key } = await ca.issue({ names: ['localhost', '127.0.0.1'] });
 */
export async function createCA(
  commonName: string,
  opts: { notAfter?: Date } = {},
): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${commonName}, O=Mailroom`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return authority(caCert, keys.privateKey, await keyPem(keys.privateKey));
}

/**
 * A CA from its PEM certificate and PKCS#8 key, as {@link createCA} made them: the webhook keeps its
 * CA in a Secret and issues new serving certificates from it across restarts.
 */
export async function loadCA(pair: KeyPair): Promise<CertificateAuthority> {
  const caCert = new x509.X509Certificate(pair.cert);
  const der = Buffer.from(pair.key.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  return authority(caCert, privateKey, pair.key);
}

function authority(
  caCert: x509.X509Certificate,
  signingKey: webcrypto.CryptoKey,
  keyText: string,
): CertificateAuthority {
  return {
    cert: caCert.toString('pem'),
    key: keyText,
    async issue(leaf) {
      const leafKeys = await generateKeys();
      const [first] = leaf.names;
      if (!first) throw new Error('a certificate needs at least one name');
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: nextSerial(),
        subject: `CN=${first}`,
        issuer: caCert.subject,
        notBefore: leaf.notBefore ?? new Date(Date.now() - DAY),
        notAfter: leaf.notAfter ?? new Date(Date.now() + 90 * DAY),
        signingKey,
        publicKey: leafKeys.publicKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([
            leaf.usage === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
          ]),
          new x509.SubjectAlternativeNameExtension(
            leaf.names.map((n) =>
              isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n },
            ),
          ),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ],
      });
      return { cert: cert.toString('pem'), key: await keyPem(leafKeys.privateKey) };
    },
  };
}

/** A self-signed leaf certificate (no CA): what a misconfigured server often presents. */
export async function createSelfSigned(names: string[]): Promise<KeyPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${names[0] ?? 'localhost'}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
      ),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}
