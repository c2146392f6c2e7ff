import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLive, podSender } from './pod-sender.ts';

const mounting = (secretName: string, annotations: Record<string, string> = {}) => ({
  metadata: { annotations },
  spec: { volumes: [{ name: 'mailroom-config', secret: { secretName } }] },
});

test('podSender: the mounted config wins over annotations edited after admission; cluster copies are told apart', () => {
  assert.deepEqual(podSender(mounting('platform-cluster-mailroom', { 'mailroom.dev/sender': 'x' })), {
    kind: 'ClusterEmailSender',
    name: 'platform',
  });
  assert.deepEqual(podSender(mounting('identity-mailroom')), { kind: 'EmailSender', name: 'identity' });
  assert.deepEqual(podSender({ metadata: { annotations: { 'mailroom.dev/cluster-sender': 'p' } } }), {
    kind: 'ClusterEmailSender',
    name: 'p',
  });
  assert.deepEqual(podSender({ metadata: { annotations: { 'mailroom.dev/sender': 'i' } } }), {
    kind: 'EmailSender',
    name: 'i',
  });
  assert.equal(podSender({ metadata: {} }), undefined);
});

test('isLive: finished pods no longer use a sender', () => {
  assert.equal(isLive({ status: { phase: 'Pending' } }), true);
  assert.equal(isLive({ status: { phase: 'Succeeded' } }), false);
  assert.equal(isLive({ status: { phase: 'Failed' } }), false);
});
