import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { fileAccess, inClusterAccess, loadClusterAccess } from './kubeconfig.ts';

const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

async function kubeconfig(
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = {},
  format: (o: unknown) => string = stringify,
) {
  const dir = await mkdtemp(join(tmpdir(), 'kc-'));
  await writeFile(join(dir, 'ca.crt'), ca);
  const path = join(dir, 'config');
  await writeFile(
    path,
    format({
      clusters: [
        { name: 'other', cluster: { server: 'https://10.0.0.1' } },
        {
          name: 'c',
          cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': 'ca.crt', ...cluster },
        },
      ],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return { dir, path };
}

test('reads server, CA (file relative to the kubeconfig) and bearer token of the current context', async () => {
  const { path } = await kubeconfig({ token: 'abc' });
  const access = fileAccess(path)!;
  assert.equal(access.server.href, 'https://127.0.0.1:6443/');
  assert.equal(String(access.tls.ca), ca);
  assert.deepEqual(await access.headers(), { Authorization: 'Bearer abc' });
});

test('a JSON kubeconfig reads the same as YAML', async () => {
  const { path } = await kubeconfig({ token: 'abc' }, {}, (o) => JSON.stringify(o, null, 2));
  const access = fileAccess(path)!;
  assert.equal(access.server.href, 'https://127.0.0.1:6443/');
  assert.equal(String(access.tls.ca), ca);
  assert.deepEqual(await access.headers(), { Authorization: 'Bearer abc' });
});

test('re-reads a token file on every call (rotation); client certificates and skip-verify', async () => {
  const { dir, path } = await kubeconfig(
    {
      tokenFile: join(tmpdir(), 'unused'),
      'client-certificate-data': Buffer.from('CERT').toString('base64'),
      'client-key-data': Buffer.from('KEY').toString('base64'),
    },
    { 'insecure-skip-tls-verify': true, 'tls-server-name': 'kubernetes' },
  );
  const tokenFile = join(dir, 'token');
  const { path: p2 } = await kubeconfig({ tokenFile });
  await writeFile(tokenFile, 'one\n');
  const access = fileAccess(p2)!;
  assert.deepEqual(await access.headers(), { Authorization: 'Bearer one' });
  await writeFile(tokenFile, 'two\n');
  assert.deepEqual(await access.headers(), { Authorization: 'Bearer two' });
  const tls = fileAccess(path)!.tls;
  assert.equal(String(tls.cert), 'CERT');
  assert.equal(String(tls.key), 'KEY');
  assert.equal(tls.rejectUnauthorized, false);
  assert.equal(tls.servername, 'kubernetes');
});

test('leaves exec plugins to client-node', async () => {
  const { path } = await kubeconfig({
    exec: { command: 'true', apiVersion: 'client.authentication.k8s.io/v1' },
  });
  assert.equal(fileAccess(path), undefined);
});

test('in-cluster: service host and port, the mounted CA and token', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sa-'));
  await writeFile(join(dir, 'ca.crt'), ca);
  await writeFile(join(dir, 'token'), 'sa-token');
  const access = inClusterAccess(
    { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    dir,
  );
  assert.equal(access.server.href, 'https://10.96.0.1/');
  assert.deepEqual(await access.headers(), { Authorization: 'Bearer sa-token' });
});

test('precedence: the flag, then KUBECONFIG', async () => {
  const { path } = await kubeconfig({ token: 'flag' });
  const { path: envPath } = await kubeconfig({ token: 'env' });
  assert.deepEqual(await (await loadClusterAccess(path, { KUBECONFIG: envPath })).headers(), {
    Authorization: 'Bearer flag',
  });
  assert.deepEqual(await (await loadClusterAccess(undefined, { KUBECONFIG: envPath })).headers(), {
    Authorization: 'Bearer env',
  });
});
