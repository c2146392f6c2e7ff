import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EmailSender } from '../api/emailsender.ts';
import { metadataTransform, specTransform } from './transforms.ts';

const secretTransform = metadataTransform('mailroom.dev/');
const senderTransform = specTransform<EmailSender>;

test('metadata-only objects keep no data, no foreign annotations (last-applied holds the data), only the prefixed ones', () => {
  const s = secretTransform({
    metadata: {
      name: 'smtp',
      namespace: 'mail',
      resourceVersion: '7',
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': '{"stringData":{"uri":"smtp://u:p@h/"}}',
        'mailroom.dev/revision': 'abc',
      },
      labels: { app: 'x', 'mailroom.dev/sender': 'identity' },
    },
    data: { uri: 'c210cDovL3U6cEBoLw==' },
  });
  assert.deepEqual(s, {
    metadata: {
      name: 'smtp',
      namespace: 'mail',
      resourceVersion: '7',
      labels: { 'mailroom.dev/sender': 'identity' },
      annotations: { 'mailroom.dev/revision': 'abc' },
    },
  });
});

test('spec objects drop managedFields and last-applied; equal strings are shared', () => {
  const raw = (name: string) =>
    JSON.parse(
      JSON.stringify({
        apiVersion: 'mailroom.dev/v1alpha1',
        kind: 'EmailSender',
        metadata: {
          name,
          namespace: 'mail',
          managedFields: [{ manager: 'kubectl' }],
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'me' },
        },
        spec: { from: { address: 'no-reply@example.com' } },
        status: { endpoint: 'smtp.example.com:587' },
      }),
    );
  const a = senderTransform(raw('a'));
  const b = senderTransform(raw('b'));
  assert.equal('managedFields' in a.metadata, false);
  assert.deepEqual(a.metadata.annotations, { keep: 'me' });
  assert.equal(a.status?.endpoint, 'smtp.example.com:587');
  assert.equal(a.spec.from.address, b.spec.from.address);
});

test('equal parts of spec and status are one frozen object across senders; status.config stays each its own', () => {
  const raw = (name: string) =>
    JSON.parse(
      JSON.stringify({
        apiVersion: 'mailroom.dev/v1alpha1',
        kind: 'EmailSender',
        metadata: { name, namespace: 'mail' },
        spec: { smtp: { uriSecretRef: { name: 'smtp', key: 'uri' } }, probe: { interval: '10m' } },
        status: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'Verified', message: 'ok' }],
          lastProbe: { result: 'Verified', extensions: ['STARTTLS', 'AUTH PLAIN'] },
          config: { secretName: `${name}-mailroom`, revision: 'r1' },
        },
      }),
    );
  const a = senderTransform(raw('a'));
  const b = senderTransform(raw('b'));
  assert.equal(a.spec.smtp, b.spec.smtp);
  assert.equal(a.status?.conditions, b.status?.conditions);
  assert.equal(a.status?.lastProbe, b.status?.lastProbe);
  assert.ok(Object.isFrozen(a.status?.lastProbe?.extensions));
  assert.throws(() => {
    (a.spec.smtp.uriSecretRef as { name: string }).name = 'x';
  }, TypeError);
  assert.notEqual(a.status?.config, b.status?.config);
  assert.equal(b.status?.config?.secretName, 'b-mailroom');
  assert.equal(a.metadata.name, 'a');
});
