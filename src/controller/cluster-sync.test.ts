/**
 * The reconcile of a ClusterEmailSender on fakes: the same steps and status as an EmailSender, its
 * Secrets read from the cluster-resource namespace only, and its config following its consumers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeKube, fakeDeps, scriptedProbe, sender } from '../../test/support/controller-fakes.ts';
import type { ClusterEmailSender, ClusterEmailSenderSpecInput } from '../api/clusteremailsender.ts';
import { API_VERSION, type EmailSender } from '../api/emailsender.ts';
import { ClusterConsumers, clusterTargets, type PodMeta } from './cluster-consumers.ts';
import { clusterEmailSenders } from './kinds.ts';
import type { SenderStatus } from './status.ts';
import { createReconciler } from './sync.ts';
import type { PublishedConfig } from './types.ts';

const CRN = 'mailroom-system';
const URI = 'smtp://relay:platform-pass@smtp.example.com:587/';

function cluster(name: string, spec: Partial<ClusterEmailSenderSpecInput> = {}): ClusterEmailSender {
  return {
    apiVersion: API_VERSION,
    kind: 'ClusterEmailSender',
    metadata: { name, uid: `uid-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      smtp: { uriSecretRef: { name: 'smtp', key: 'uri' } },
      from: { address: 'no-reply@example.com' },
      namespaceSelector: { matchLabels: { email: 'on' } },
      ...spec,
    },
  };
}

const pod = (namespace: string, name: string, sender: string): PodMeta => ({
  metadata: { name, namespace, annotations: { 'mailroom.dev/cluster-sender': sender } },
});

function setup() {
  const kube = new FakeKube();
  const senders = new Map<string, EmailSender | ClusterEmailSender>();
  const probe = scriptedProbe();
  const env = fakeDeps({ senders: senders as Map<string, EmailSender>, kube, probe: probe.fn });
  const consumers = new ClusterConsumers();
  const labels = new Map<string, Record<string, string>>([
    ['apps', { email: 'on' }],
    ['shop', { email: 'on' }],
    ['outside', {}],
  ]);
  const copies = (name: string) =>
    new Map<string, PublishedConfig>(
      [...kube.configs.values()]
        .filter((c) => c.owner.kind === 'ClusterEmailSender' && c.owner.name === name)
        .map((c) => [c.namespace, { secretName: c.name, revision: c.revision, publishedAt: c.publishedAt }]),
    );
  env.deps.cluster = {
    targets: (name, selector) => clusterTargets(selector, consumers.of(name), (ns) => labels.get(ns)),
    copies,
    foreign: () => false,
  };
  const reconcileCluster = createReconciler(env.deps, clusterEmailSenders(CRN));
  const run = async (s: ClusterEmailSender) => {
    senders.set(`/${s.metadata.name}`, s);
    const before = kube.statusPatches.length;
    await reconcileCluster(s.metadata.name).catch(() => {});
    const last = kube.statusPatches.at(-1);
    if (kube.statusPatches.length > before && last) s.status = last.status as SenderStatus;
  };
  const namespacesWithCopy = (name: string) => [...copies(name).keys()].sort();
  return { ...env, kube, probe, consumers, labels, senders, run, reconcileCluster, namespacesWithCopy };
}

describe('ClusterEmailSender reconcile', () => {
  test('Ready from the cluster-resource namespace; copies only where allowed and used; status counts them', async () => {
    const t = setup();
    t.kube.setSecret(CRN, 'smtp', { uri: URI });
    // A Secret of the same name in an application namespace must never be read.
    t.kube.setSecret('apps', 'smtp', { uri: 'smtp://evil:evil@attacker.example.com/' });
    for (const p of [
      pod('apps', 'a1', 'platform'),
      pod('apps', 'a2', 'platform'),
      pod('outside', 'o1', 'platform'),
    ])
      t.consumers.update('add', p);
    const s = cluster('platform');
    await t.run(s);
    assert.equal(s.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(t.probe.calls[0]?.endpoint.host, 'smtp.example.com');
    assert.deepEqual(t.namespacesWithCopy('platform'), ['apps']);
    assert.equal(t.kube.configs.get('apps/platform-cluster-mailroom')?.owner.kind, 'ClusterEmailSender');
    assert.equal(s.status?.consumers, 3);
    assert.deepEqual(s.status?.namespaces, ['apps']);
    assert.equal(s.status?.config?.secretName, 'platform-cluster-mailroom');
    assert.equal(t.kube.statusPatches.at(-1)?.key, 'platform');
  });

  test('the copy follows: a new consumer namespace gains it; relabelling, last consumer gone, deletion remove it', async () => {
    const t = setup();
    t.kube.setSecret(CRN, 'smtp', { uri: URI });
    t.consumers.update('add', pod('apps', 'a1', 'platform'));
    const s = cluster('platform');
    await t.run(s);
    t.consumers.update('add', pod('shop', 's1', 'platform'));
    await t.run(s);
    assert.deepEqual(t.namespacesWithCopy('platform'), ['apps', 'shop']);
    t.labels.set('shop', {});
    await t.run(s);
    assert.deepEqual(t.namespacesWithCopy('platform'), ['apps']);
    assert.deepEqual(s.status?.namespaces, ['apps']);
    t.consumers.update('delete', pod('apps', 'a1', 'platform'));
    await t.run(s);
    assert.deepEqual(t.namespacesWithCopy('platform'), []);
    t.consumers.update('add', pod('apps', 'a3', 'platform'));
    await t.run(s);
    assert.deepEqual(t.namespacesWithCopy('platform'), ['apps']);
    t.senders.delete('/platform');
    await t.reconcileCluster('platform');
    assert.deepEqual(t.namespacesWithCopy('platform'), []);
  });

  test('a failing probe still removes copies, and publishes nothing new (last known good)', async () => {
    const t = setup();
    t.kube.setSecret(CRN, 'smtp', { uri: URI });
    t.consumers.update('add', pod('apps', 'a1', 'platform'));
    t.consumers.update('add', pod('shop', 's1', 'platform'));
    const s = cluster('platform');
    await t.run(s);
    const good = t.kube.configs.get('apps/platform-cluster-mailroom')?.revision;
    t.kube.setSecret(CRN, 'smtp', { uri: 'smtp://relay:wrong@smtp.example.com:587/' });
    t.labels.set('shop', {});
    const failing = createReconciler(
      {
        ...t.deps,
        probe: scriptedProbe(() => ({ ok: false, reason: 'AuthenticationFailed', message: 'no' })).fn,
      },
      clusterEmailSenders(CRN),
    );
    await failing('platform').catch(() => {});
    assert.deepEqual(t.namespacesWithCopy('platform'), ['apps']);
    assert.equal(t.kube.configs.get('apps/platform-cluster-mailroom')?.revision, good);
  });

  test('rotation of the cluster Secret updates every copy; the probe is shared with an EmailSender of the same relay', async () => {
    const t = setup();
    t.kube.setSecret(CRN, 'smtp', { uri: URI });
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    t.consumers.update('add', pod('apps', 'a1', 'platform'));
    t.consumers.update('add', pod('shop', 's1', 'platform'));
    const es = sender('identity');
    t.senders.set('mail/identity', es);
    await createReconciler(t.deps)('mail/identity');
    const s = cluster('platform');
    await t.run(s);
    assert.equal(t.probe.calls.length, 1, 'one probe answers both kinds');
    const before = t.kube.configs.get('apps/platform-cluster-mailroom')?.revision;
    t.kube.setSecret(CRN, 'smtp', { uri: 'smtp://relay:rotated-pass@smtp.example.com:587/' });
    await t.run(s);
    const after = ['apps', 'shop'].map((ns) => t.kube.configs.get(`${ns}/platform-cluster-mailroom`));
    assert.ok(
      after.every((c) => c && c.revision !== before && JSON.parse(c.body).smtp.uri.includes('rotated-pass')),
    );
  });
});
