/**
 * The webhook's sender lookups on a real API server: a sender the cache lacks is read once, a
 * confirmed miss is remembered for a short, bounded while (so forged reviews naming a missing sender
 * cost one read per name per TTL), and a sender created meanwhile is seen at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectKube, type KubeContext } from '../../src/kube/context.ts';
import { loadClusterAccess } from '../../src/kube/kubeconfig.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { type SenderCache, startSenderCache } from '../../src/webhook/senders.ts';
import { APP_NS, eventually, SENDER, startWebhookEnv, type WebhookEnv } from './env.ts';

describe('webhook sender lookups', () => {
  let env: WebhookEnv;
  let kube: KubeContext;
  let cache: SenderCache;
  let now = 1_000_000;
  /** Live reads of single EmailSenders the cache made (list and watch calls are not counted). */
  const reads: string[] = [];

  before(async () => {
    env = await startWebhookEnv();
    const log = createLogger({ level: 'silent', name: 'senders-test' });
    // A client of its own, so the reads counted are this cache's only.
    kube = await connectKube(await loadClusterAccess(env.cp.kubeconfigPath), { log, instance: 'senders' });
    const request = kube.rest.request.bind(kube.rest);
    kube.rest.request = ((method: string, path: string, ...rest: unknown[]) => {
      const m = /\/namespaces\/([^/]+)\/emailsenders\/([^/?]+)$/.exec(path);
      if (method === 'GET' && m) reads.push(`${m[1]}/${m[2]}`);
      return (request as (...a: unknown[]) => unknown)(method, path, ...rest);
    }) as typeof kube.rest.request;
    cache = await startSenderCache(kube, log, undefined, {
      missingTtlMs: 5_000,
      maxMissing: 2,
      now: () => now,
    });
  });
  after(async () => {
    await cache?.stop();
    await kube?.close();
    await env?.stop();
  });

  test('a cached sender costs no read', async () => {
    assert.equal(await cache.exists(APP_NS, SENDER), true);
    assert.deepEqual(reads, []);
  });

  test('a missing sender: one read per TTL, however many reviews name it, concurrent or not', async () => {
    reads.length = 0;
    const answers = await Promise.all(Array.from({ length: 5 }, () => cache.exists(APP_NS, 'forged')));
    assert.deepEqual(answers, [false, false, false, false, false]);
    for (let i = 0; i < 5; i++) assert.equal(await cache.exists(APP_NS, 'forged'), false);
    assert.deepEqual(reads, [`${APP_NS}/forged`]);
    now += 5_000;
    assert.equal(await cache.exists(APP_NS, 'forged'), false);
    assert.deepEqual(reads, [`${APP_NS}/forged`, `${APP_NS}/forged`], 'read again after the TTL');
  });

  test('the table of misses is bounded: the least recently used is read again', async () => {
    reads.length = 0;
    for (const name of ['a', 'b', 'c']) assert.equal(await cache.exists(APP_NS, name), false);
    assert.equal(await cache.exists(APP_NS, 'c'), false);
    assert.deepEqual(
      reads,
      ['a', 'b', 'c'].map((n) => `${APP_NS}/${n}`),
    );
    assert.equal(await cache.exists(APP_NS, 'a'), false);
    assert.equal(reads.length, 4, 'a was pushed out by c, so it is read again');
  });

  test('a sender created after its miss is seen at once, not after the TTL', async () => {
    assert.equal(await cache.exists(APP_NS, 'late'), false);
    await env.kubectlRaw(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'mailroom.dev/v1alpha1',
        kind: 'EmailSender',
        metadata: { name: 'late', namespace: APP_NS },
        spec: {
          smtp: { uriSecretRef: { name: 'smtp', key: 'uri' } },
          from: { address: 'no-reply@example.com' },
        },
      }),
    );
    // The clock stands still: only the informer's add can turn the answer.
    await eventually(async () => ((await cache.exists(APP_NS, 'late')) ? true : undefined), 10_000);
  });
});
