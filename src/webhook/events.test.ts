import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { EventNote, ObjectReference } from '../kube/events.ts';
import type { MissingSender } from './admission.ts';
import { admittedPodOf, MissingSenderEvents, type MissingSenderEventsOptions } from './events.ts';

/** What the recorder was given (the namespace of the Event is the one of `regarding`). */
interface Created {
  controller: string;
  body: { regarding: ObjectReference; note: string };
}

function setup(extra: Partial<MissingSenderEventsOptions> = {}) {
  let now = Date.parse('2026-11-29T12:00:00Z');
  const created: Created[] = [];
  const events = new MissingSenderEvents({
    events: {
      record: (controller: string, regarding: ObjectReference, note: EventNote) => {
        created.push({ controller, body: { regarding, note: note.note } });
      },
    },
    now: () => now,
    ...extra,
  });
  return {
    events,
    created,
    advance: (ms: number) => {
      now += ms;
    },
    /** The watch reports a pod created now. */
    seen: (p: V1Pod) => events.observe(admittedPodOf(p)!),
    iso: () => new Date(now).toISOString(),
  };
}

const fromRs = (ns: string, uid: string, sender = 'nope'): MissingSender => ({
  namespace: ns,
  sender,
  pod: 'web-*',
  owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web-${uid}`, uid },
});

const pod = (
  ns: string,
  name: string,
  created: string,
  o: { owner?: string; sender?: string; generateName?: string } = {},
): V1Pod => ({
  metadata: {
    namespace: ns,
    name,
    uid: `pod-${name}`,
    ...(o.generateName ? { generateName: o.generateName } : {}),
    creationTimestamp: new Date(created),
    annotations: { 'mailroom.dev/sender': o.sender ?? 'nope' },
    ...(o.owner
      ? {
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: `web-${o.owner}`,
              uid: o.owner,
              controller: true,
            },
          ],
        }
      : {}),
  },
});

test('40,000 forged reviews: no Event, bounded state, well under a second of CPU', () => {
  const t = setup({ maxPending: 1024, maxKeys: 4096 });
  const cpu = process.cpuUsage();
  for (let i = 0; i < 40_000; i++) {
    t.events.hook(fromRs(`victim-${i}`, `uid-${i}`));
    if (i % 1000 === 999) {
      t.advance(1000);
      t.events.expire();
    }
    assert.ok(t.events.pendingCount <= 1024);
  }
  t.advance(31_000);
  t.events.expire();
  const used = process.cpuUsage(cpu);
  const ms = (used.user + used.system) / 1000;
  assert.equal(t.created.length, 0, 'no pod was ever created, so no Event');
  assert.equal(t.events.pendingCount, 0);
  assert.equal(t.events.rememberedCount, 0);
  // Before: a scan of the whole map per review past 10,000 keys (13 s of CPU here for 40,000).
  assert.ok(ms < 1500, `40k forged reviews cost ${ms} ms of CPU`);
});

test('a real admission: the Event follows once its pod is seen, about its owner, once per quiet period', () => {
  const t = setup();
  t.events.hook(fromRs('apps', 'rs-1'));
  assert.equal(t.created.length, 0, 'the pod does not exist yet');
  t.advance(300);
  t.seen(pod('apps', 'web-abcde', t.iso(), { owner: 'rs-1', generateName: 'web-' }));
  assert.equal(t.created.length, 1);
  const ev = t.created[0]!;
  assert.equal(ev.controller, 'mailroom.dev/webhook');
  assert.deepEqual(ev.body.regarding, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    name: 'web-rs-1',
    uid: 'rs-1',
    namespace: 'apps',
  });
  assert.match(ev.body.note ?? '', /^pod web-abcde names EmailSender "nope"/);
  // The ReplicaSet retries: the same sender and owner stay quiet for 10 minutes.
  t.events.hook(fromRs('apps', 'rs-1'));
  t.seen(pod('apps', 'web-fghij', t.iso(), { owner: 'rs-1' }));
  assert.equal(t.created.length, 1);
  assert.equal(t.events.pendingCount, 0);
  t.advance(10 * 60_000 + 1);
  t.events.hook(fromRs('apps', 'rs-1'));
  t.seen(pod('apps', 'web-klmno', t.iso(), { owner: 'rs-1' }));
  assert.equal(t.created.length, 2);
});

test('bare pods are confirmed by name or generateName and reported with their own uid', () => {
  const t = setup();
  t.events.hook({ namespace: 'apps', sender: 'nope', pod: 'orphan' });
  t.events.hook({ namespace: 'apps', sender: 'nope', pod: 'job-*' });
  t.seen(pod('apps', 'orphan', t.iso()));
  t.seen(pod('apps', 'job-x7k2p', t.iso(), { generateName: 'job-' }));
  assert.deepEqual(
    t.created.map((c) => c.body.regarding),
    [
      { apiVersion: 'v1', kind: 'Pod', name: 'orphan', uid: 'pod-orphan', namespace: 'apps' },
      { apiVersion: 'v1', kind: 'Pod', name: 'job-x7k2p', uid: 'pod-job-x7k2p', namespace: 'apps' },
    ],
  );
});

test('a review is not confirmed by a pod elsewhere, of another owner or sender, long gone, or too late', () => {
  const t = setup();
  t.events.hook(fromRs('apps', 'rs-1'));
  t.seen(pod('other', 'web-1', t.iso(), { owner: 'rs-1' }));
  t.seen(pod('apps', 'web-2', t.iso(), { owner: 'rs-2' }));
  t.seen(pod('apps', 'web-3', t.iso(), { owner: 'rs-1', sender: 'another' }));
  t.seen(pod('apps', 'web-4', new Date(Date.parse(t.iso()) - 3_600_000).toISOString(), { owner: 'rs-1' }));
  assert.equal(t.created.length, 0);
  assert.equal(t.events.pendingCount, 1);
  t.advance(31_000);
  t.seen(pod('apps', 'web-5', t.iso(), { owner: 'rs-1' }));
  assert.equal(t.created.length, 0, 'confirmed after the window: dropped');
  t.events.hook(fromRs('apps', 'rs-9'));
  t.advance(31_000);
  t.events.expire();
  assert.equal(t.events.unconfirmed, 1);
  assert.equal(t.events.pendingCount, 0);
});

test('Events leave at a bounded rate', () => {
  const t = setup({ rate: { perSecond: 1, burst: 5 } });
  for (let i = 0; i < 12; i++) {
    t.events.hook(fromRs('apps', `rs-${i}`));
    t.seen(pod('apps', `web-${i}`, t.iso(), { owner: `rs-${i}` }));
  }
  assert.equal(t.created.length, 5);
  assert.equal(t.events.limited, 7);
});

test('a pod without a sender annotation, name, namespace or uid is not an admitted pod', () => {
  assert.equal(admittedPodOf({ metadata: { name: 'a', namespace: 'n', uid: 'u' } }), undefined);
  assert.equal(
    admittedPodOf({ metadata: { namespace: 'n', annotations: { 'mailroom.dev/sender': 's' } } }),
    undefined,
  );
});
