import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sender } from '../../test/support/controller-fakes.ts';
import { SecretIndex } from './secret-index.ts';

test('maps URI and CA Secrets to the senders that use them, in their namespace only', () => {
  const idx = new SecretIndex();
  idx.set(sender('a'));
  idx.set(
    sender('b', {
      smtp: { uriSecretRef: { name: 'smtp', key: 'uri' }, caSecretRef: { name: 'ca', key: 'ca.crt' } },
    }),
  );
  idx.set(sender('c', {}, { namespace: 'other' }));
  assert.deepEqual(idx.sendersOf('mail', 'smtp').sort(), ['mail/a', 'mail/b']);
  assert.deepEqual(idx.sendersOf('mail', 'ca'), ['mail/b']);
  assert.deepEqual(idx.sendersOf('other', 'smtp'), ['other/c']);
  assert.deepEqual(idx.sendersOf('mail', 'nope'), []);
});

test('follows a changed reference and a deleted sender', () => {
  const idx = new SecretIndex();
  idx.set(sender('a'));
  idx.set(sender('a', { smtp: { uriSecretRef: { name: 'smtp-v2', key: 'uri' } } }));
  assert.deepEqual(idx.sendersOf('mail', 'smtp'), []);
  assert.deepEqual(idx.sendersOf('mail', 'smtp-v2'), ['mail/a']);
  idx.delete('mail/a');
  assert.deepEqual(idx.sendersOf('mail', 'smtp-v2'), []);
});
