import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createCAApart, issueApart } from './pki-apart.ts';

test('a CA and a server certificate made in a child process: signed by it, with the names and its key', async () => {
  const notAfter = new Date(Date.now() + 30 * 86_400_000);
  const ca = await createCAApart('Apart Test CA', { notAfter });
  const leaf = await issueApart(ca, { names: ['svc.ns.svc', '127.0.0.1'], notAfter });
  const caCert = new X509Certificate(ca.cert);
  const cert = new X509Certificate(leaf.cert);
  assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
  assert.equal(cert.checkHost('svc.ns.svc'), 'svc.ns.svc');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.key)));
  assert.equal(Date.parse(caCert.validTo), Math.floor(notAfter.getTime() / 1000) * 1000);
});

test('a CA key that is not one fails with a message that quotes nothing of it', async () => {
  await assert.rejects(
    issueApart({ cert: 'not a certificate', key: 'secret-key-material' }, { names: ['x'] }),
    (err: Error) => /certificate issuance failed/.test(err.message) && !err.message.includes('secret'),
  );
});
