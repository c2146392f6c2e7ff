import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sender } from '../../test/support/controller-fakes.ts';
import { controllerUid, secretTransform } from './kube.ts';
import { configSecretNeedsReconcile, SecretIndex } from './secret-index.ts';

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

test('maps each sender to its config Secret, and says which events on it need a reconcile', () => {
  const idx = new SecretIndex();
  const a = sender('a');
  idx.set(a);
  assert.equal(idx.configOwner('mail', 'a-mailroom'), 'mail/a');
  assert.equal(idx.configOwner('other', 'a-mailroom'), undefined);
  const secret = (uid?: string) => ({
    metadata: {
      name: 'a-mailroom',
      namespace: 'mail',
      ...(uid ? { ownerReferences: [{ uid, controller: true as const }] } : {}),
    },
  });
  assert.equal(configSecretNeedsReconcile('update', secret('uid-a'), a), false, 'our own write');
  assert.equal(configSecretNeedsReconcile('delete', secret('uid-a'), a), true, 'published again');
  assert.equal(configSecretNeedsReconcile('add', secret(), a), true, 'a foreign one appears');
  assert.equal(configSecretNeedsReconcile('update', secret('uid-x'), a), true, 'a foreign one changes');
  const stalled = {
    ...a,
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'False' as const,
          reason: 'ConfigSecretConflict',
          message: 'm',
          lastTransitionTime: '2026-05-01T10:00:00Z',
        },
      ],
    },
  };
  assert.equal(configSecretNeedsReconcile('update', secret('uid-a'), stalled), true, 'adopted');
  idx.delete('mail/a');
  assert.equal(idx.configOwner('mail', 'a-mailroom'), undefined);
});

test('the Secret cache keeps the uid of the controller owner reference, and nothing else of them', () => {
  const s = secretTransform({
    metadata: {
      name: 'a-mailroom',
      namespace: 'mail',
      resourceVersion: '7',
      ownerReferences: [
        { apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: 'u-1' },
        { apiVersion: 'mailroom.dev/v1alpha1', kind: 'EmailSender', name: 'a', uid: 'u-2', controller: true },
      ],
    },
    data: { 'config.json': 'e30=' },
  });
  assert.deepEqual(s, {
    metadata: {
      name: 'a-mailroom',
      namespace: 'mail',
      resourceVersion: '7',
      ownerReferences: [{ uid: 'u-2', controller: true }],
    },
  });
  assert.equal(controllerUid(s), 'u-2');
  assert.equal(controllerUid(secretTransform({ metadata: { name: 'x', namespace: 'mail' } })), undefined);
});
