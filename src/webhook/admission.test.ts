import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AdmissionDeps,
  type AdmissionRequest,
  handleAdmission,
  type MissingSender,
} from './admission.ts';

const podReq = (
  annotations?: Record<string, string>,
  extra: Partial<AdmissionRequest> = {},
): AdmissionRequest => ({
  uid: 'u1',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  operation: 'CREATE',
  namespace: 'apps',
  object: {
    metadata: {
      generateName: 'web-',
      ...(annotations ? { annotations } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs', controller: true },
      ],
    },
    spec: { containers: [{ name: 'app', image: 'a' }] },
  },
  ...extra,
});

function deps(
  exists: boolean,
  strict = false,
  cluster: 'allowed' | 'notAllowed' | 'missing' = 'allowed',
): AdmissionDeps & { missing: MissingSender[] } {
  const missing: MissingSender[] = [];
  return {
    image: 'mailroom:test',
    strict,
    missing,
    senderExists: async () => exists,
    clusterSenderAccess: async () => cluster,
    onMissingSender: (m) => missing.push(m),
  };
}

const patchOf = (r: { response: { patch?: string } }) =>
  r.response.patch ? JSON.parse(Buffer.from(r.response.patch, 'base64').toString()) : undefined;

describe('handleAdmission', () => {
  test('an annotated pod gets a JSON Patch', async () => {
    const out = await handleAdmission(podReq({ 'mailroom.dev/sender': 'identity' }), deps(true));
    assert.equal(out.response.uid, 'u1');
    assert.equal(out.response.allowed, true);
    assert.equal(out.response.patchType, 'JSONPatch');
    assert.ok(patchOf(out).length > 0);
    assert.equal(out.response.warnings, undefined);
  });

  test('anything else passes untouched', async () => {
    for (const req of [
      podReq(),
      podReq({ 'mailroom.dev/sender': 'identity' }, { operation: 'UPDATE' }),
      podReq({ 'mailroom.dev/sender': 'identity' }, { kind: { group: 'apps', version: 'v1', kind: 'Pod' } }),
    ]) {
      const out = await handleAdmission(req, deps(true));
      assert.deepEqual(out.response, { uid: 'u1', allowed: true });
    }
  });

  test('a missing sender: admitted with a warning and an Event about the owner', async () => {
    const d = deps(false);
    const out = await handleAdmission(podReq({ 'mailroom.dev/sender': 'nope' }), d);
    assert.equal(out.response.allowed, true);
    assert.match(out.response.warnings![0]!, /EmailSender "nope" does not exist in namespace "apps"/);
    assert.ok(patchOf(out).length > 0);
    assert.deepEqual(d.missing, [
      {
        namespace: 'apps',
        sender: 'nope',
        pod: 'web-*',
        owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs' },
      },
    ]);
  });

  test('a dry run records no Event', async () => {
    const d = deps(false);
    await handleAdmission(podReq({ 'mailroom.dev/sender': 'nope' }, { dryRun: true }), d);
    assert.deepEqual(d.missing, []);
  });

  test('strict: a missing sender is refused with a clear message', async () => {
    const out = await handleAdmission(podReq({ 'mailroom.dev/sender': 'nope' }), deps(false, true));
    assert.equal(out.response.allowed, false);
    assert.match(
      out.response.status!.message,
      /EmailSender "nope" does not exist in namespace "apps"; create it first/,
    );
  });

  test('a name that cannot be an EmailSender is refused', async () => {
    const out = await handleAdmission(podReq({ 'mailroom.dev/sender': 'Not_A_Name' }), deps(true));
    assert.equal(out.response.allowed, false);
    assert.match(out.response.status!.message, /is not an EmailSender name/);
  });

  test('a ClusterEmailSender pod in an allowed namespace gets the sidecar mounting its cluster copy', async () => {
    const out = await handleAdmission(podReq({ 'mailroom.dev/cluster-sender': 'platform' }), deps(false));
    assert.equal(out.response.allowed, true);
    assert.equal(out.response.warnings, undefined);
    const volumes = patchOf(out).find((op: { path: string }) => op.path === '/spec/volumes');
    assert.equal(volumes.value[0].secret.secretName, 'platform-cluster-mailroom');
  });

  test('a namespace the selector excludes: admitted with a warning and an Event, no sidecar; strict refuses', async () => {
    const d = deps(true, false, 'notAllowed');
    const out = await handleAdmission(podReq({ 'mailroom.dev/cluster-sender': 'platform' }), d);
    assert.equal(out.response.allowed, true);
    assert.equal(out.response.patch, undefined);
    assert.match(out.response.warnings![0]!, /does not allow namespace "apps".*without the sender sidecar/);
    assert.equal(d.missing[0]?.problem, 'NotAllowed');
    assert.equal(d.missing[0]?.kind, 'ClusterEmailSender');
    const strict = await handleAdmission(
      podReq({ 'mailroom.dev/cluster-sender': 'platform' }),
      deps(true, true, 'notAllowed'),
    );
    assert.equal(strict.response.allowed, false);
    assert.match(strict.response.status!.message, /does not allow namespace "apps"/);
  });

  test('both annotations: refused with a message that says to pick one', async () => {
    const out = await handleAdmission(
      podReq({ 'mailroom.dev/sender': 'identity', 'mailroom.dev/cluster-sender': 'platform' }),
      deps(true),
    );
    assert.equal(out.response.allowed, false);
    assert.match(out.response.status!.message, /pick one/);
  });
});
