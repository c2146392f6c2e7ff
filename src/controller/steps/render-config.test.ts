import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { FakeKube, fakeDeps, sender } from '../../../test/support/controller-fakes.ts';
import type { EmailSender } from '../../api/emailsender.ts';
import { smtpUriSchema } from '../../api/secret-values.ts';
import { activateText } from '../../sidecar/config.ts';
import { createReconciler } from '../sync.ts';

const URI = 'smtps://mailer:p%2Fw%40rd@smtp.example.com:465/?server_name=mx.example.com';

test('the config the render step publishes is what the sidecar loader reads, through one schema', async () => {
  const kube = new FakeKube();
  const pem = generateKeyPairSync('rsa', { modulusLength: 1024 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  kube.setSecret('mail', 'smtp', { uri: URI });
  kube.setSecret('mail', 'dkim', { 'private.pem': pem });
  const s = sender('identity', {
    from: { address: 'no-reply@example.com', name: 'Identity' },
    headers: { 'X-Tag': 'identity' },
    dkim: { selector: 's1', privateKeySecretRef: { name: 'dkim', key: 'private.pem' } },
    delivery: { maxAttempts: 3, maxBackoff: '5m', ratePerSecond: 2 },
  });
  const senders = new Map<string, EmailSender>([['mail/identity', s]]);
  await createReconciler(fakeDeps({ senders, kube }).deps)('mail/identity');
  const published = kube.configs.get('mail/identity-mailroom');
  assert.ok(published, 'the config was published');

  const { config, endpoint } = activateText(published.body, 'config.json');
  assert.deepEqual(endpoint, smtpUriSchema.parse(URI).endpoint);
  assert.equal(config.revision, published.revision);
  assert.deepEqual(config.from, { address: 'no-reply@example.com', name: 'Identity' });
  assert.deepEqual(config.headers, { 'X-Tag': 'identity' });
  assert.deepEqual(config.delivery, { maxAttempts: 3, maxBackoffMs: 300_000, ratePerSecond: 2 });
  assert.deepEqual(config.dkim, { selector: 's1', domain: 'example.com', privateKey: pem });
});
