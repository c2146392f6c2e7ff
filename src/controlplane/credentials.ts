/**
 * The files a fresh control plane needs: an admin token and a service-account key pair, so that
 * TokenRequest (`kubectl create token`) works.
 *
 * @module
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** Paths written by {@link writeCredentials}. */
export interface Credentials {
  token: string;
  tokenFile: string;
  signingKeyFile: string;
  publicKeyFile: string;
}

/** User name of the admin token; its group `system:masters` bypasses RBAC. */
export const adminUser = 'mailroom-admin';

/** Writes a static-token file with one admin and a fresh ECDSA P-256 service-account key pair. */
export async function writeCredentials(dir: string): Promise<Credentials> {
  const token = randomBytes(32).toString('hex');
  // P-256 rather than RSA: key generation takes microseconds, which keeps start-up fast.
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const creds: Credentials = {
    token,
    tokenFile: join(dir, 'tokens.csv'),
    signingKeyFile: join(dir, 'sa.key'),
    publicKeyFile: join(dir, 'sa.pub'),
  };
  await Promise.all([
    writeFile(creds.tokenFile, `${token},${adminUser},${adminUser},"system:masters"\n`, { mode: 0o600 }),
    writeFile(creds.signingKeyFile, privateKey, { mode: 0o600 }),
    writeFile(creds.publicKeyFile, publicKey),
  ]);
  return creds;
}

/** Writes a kubeconfig whose single context reaches `server` as the admin, verifying `caPem`. */
export async function writeKubeconfig(
  path: string,
  server: string,
  token: string,
  caPem: string,
): Promise<void> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'mailroom',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: adminUser, user: { token } }],
    contexts: [{ name: 'mailroom', context: { cluster: 'mailroom', user: adminUser } }],
    'current-context': 'mailroom',
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}
