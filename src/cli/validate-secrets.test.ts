/**
 * `mailroom validate` and the controller run one code path for the Secrets' values: for each kind
 * of bad input, the finding validate reports has the reason and message the controller's reconcile
 * sets on `Ready`. A rule or message changed in a controller step changes both.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { FakeKube, fakeDeps, sender } from '../../test/support/controller-fakes.ts';
import type { EmailSender, EmailSenderSpecInput } from '../api/emailsender.ts';
import { createReconciler } from '../controller/sync.ts';
import { validateManifests } from './validate-manifests.ts';

const GOOD_URI = 'smtp://mailer:pw-123456@smtp.example.com:587/';
const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

interface Case {
  name: string;
  spec?: Partial<EmailSenderSpecInput>;
  /** Secrets of namespace `mail`: name → data. */
  secrets: Record<string, Record<string, string>>;
}

const CASES: Case[] = [
  {
    name: 'a raw "/" in the password',
    secrets: { smtp: { uri: 'smtp://u:hunter2/s3cret@smtp.example.com/' } },
  },
  {
    name: 'an unknown query parameter',
    secrets: { smtp: { uri: 'smtp://u:hunter2@smtp.example.com/?tls=yes' } },
  },
  { name: 'a Secret without the key', secrets: { smtp: { url: GOOD_URI } } },
  {
    name: 'a CA bundle without a certificate',
    spec: {
      smtp: { uriSecretRef: { name: 'smtp', key: 'uri' }, caSecretRef: { name: 'ca', key: 'ca.crt' } },
    },
    secrets: { smtp: { uri: GOOD_URI }, ca: { 'ca.crt': 'not a certificate' } },
  },
  {
    name: 'an Ed25519 DKIM key',
    spec: { dkim: { selector: 's1', privateKeySecretRef: { name: 'dkim', key: 'private.pem' } } },
    secrets: { smtp: { uri: GOOD_URI }, dkim: { 'private.pem': ed25519 } },
  },
];

/** What the controller's reconcile sets on Ready for `s`, given the Secrets. */
async function controllerSays(s: EmailSender, secrets: Case['secrets']) {
  const kube = new FakeKube();
  for (const [name, data] of Object.entries(secrets)) kube.setSecret('mail', name, data);
  const senders = new Map([[`mail/${s.metadata.name}`, s]]);
  await createReconciler(fakeDeps({ senders, kube }).deps)(`mail/${s.metadata.name}`);
  const status = kube.statusPatches.at(-1)?.status as EmailSender['status'];
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  assert.ok(ready, 'the reconcile wrote a Ready condition');
  return ready;
}

/** What `mailroom validate` reports for the same sender and Secrets as manifests. */
async function validateSays(s: EmailSender, secrets: Case['secrets']) {
  const docs = [
    JSON.stringify({ apiVersion: s.apiVersion, kind: s.kind, metadata: s.metadata, spec: s.spec }),
    ...Object.entries(secrets).map(([name, stringData]) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'mail' }, stringData }),
    ),
  ];
  const report = await validateManifests([{ file: 'set.yaml', text: docs.join('\n---\n') }]);
  return report.findings.filter((f) => f.severity === 'error');
}

describe('validate and the controller: one code path for Secret values', () => {
  for (const c of CASES)
    test(`${c.name}: the same reason and message`, async () => {
      const s = sender('identity', c.spec ?? {});
      const ready = await controllerSays(structuredClone(s), c.secrets);
      assert.equal(ready.status, 'False');
      const errors = await validateSays(s, c.secrets);
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.deepEqual(
        { reason: errors[0]!.code, message: errors[0]!.message },
        { reason: ready.reason, message: ready.message },
      );
      assert.doesNotMatch(JSON.stringify(errors), /hunter2|s3cret/);
    });

  test('a sender the controller finds valid up to the probe has no error in validate', async () => {
    const s = sender('identity');
    const ready = await controllerSays(structuredClone(s), { smtp: { uri: GOOD_URI } });
    assert.equal(ready.reason, 'Verified');
    assert.deepEqual(await validateSays(s, { smtp: { uri: GOOD_URI } }), []);
  });
});
