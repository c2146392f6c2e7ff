/**
 * A flood of forged AdmissionReviews against the webhook, served with a real API server behind it:
 * anyone who reaches the webhook port can send reviews, so a source over its rate is turned away,
 * the API server's own calls (another source) are still answered promptly, and a forged review
 * makes no Event — only a pod that really exists does.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request } from 'node:https';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { Webhook } from '../../src/webhook/index.ts';
import { APP_NS, eventually, podManifest, SENDER, startWebhookEnv, type WebhookEnv } from './env.ts';

const VICTIM = 'victim';
const FORGED = 400;
// Lower than the defaults (100/s, bursts of 200) so that the limit shows within a short test on a
// loaded machine; the same code path.
const LIMITS = { requests: { perSecond: 10, burst: 20 }, connections: { perSecond: 10, burst: 20 } };

function review(uid: string, namespace: string, sender: string, ownerUid?: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace,
      object: {
        metadata: {
          generateName: 'web-',
          annotations: { 'mailroom.dev/sender': sender },
          ...(ownerUid
            ? {
                ownerReferences: [
                  {
                    apiVersion: 'apps/v1',
                    kind: 'ReplicaSet',
                    name: `web-${ownerUid}`,
                    uid: ownerUid,
                    controller: true,
                  },
                ],
              }
            : {}),
        },
        spec: { containers: [{ name: 'app', image: 'ghcr.io/example/app:1' }] },
      },
    },
  });
}

/** POSTs one review; resolves to the status code, or 0 when the connection was refused or reset. */
function post(address: string, agent: Agent, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      new URL(`https://${address}/mutate-pods`),
      { method: 'POST', agent, headers: { 'content-type': 'application/json' }, rejectUnauthorized: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

// The forger runs on its own thread, as another pod would, so that its TLS work does not share the
// event loop it is meant to measure. Plain JavaScript: a worker is not type-stripped from a string.
const FORGER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { Agent, request } = require('node:https');
const agent = new Agent({ keepAlive: true, maxSockets: 16, localAddress: '127.0.0.2' });
const codes = {};
const post = (body) => new Promise((resolve) => {
  const req = request('https://' + w.address + '/mutate-pods',
    { method: 'POST', agent, headers: { 'content-type': 'application/json' }, rejectUnauthorized: false },
    (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); res.on('error', () => resolve(0)); });
  req.on('error', () => resolve(0));
  req.end(body);
});
let next = 0;
Promise.all(Array.from({ length: 16 }, async () => {
  while (next < w.reviews.length) {
    const code = await post(w.reviews[next++]);
    codes[code] = (codes[code] ?? 0) + 1;
  }
})).then(() => { agent.destroy(); parentPort.postMessage(codes); });
`;

describe('webhook under a flood of forged reviews', () => {
  let env: WebhookEnv;
  let webhook: Webhook;

  before(async () => {
    env = await startWebhookEnv();
    await env.kubectl('create', 'namespace', VICTIM);
    webhook = await env.startWebhook({ checkIntervalMs: 60_000, limits: LIMITS });
  });
  after(() => env?.stop());

  test('the flooding source is limited, another source is answered throughout, no Event is forged', async () => {
    // Two sources on loopback: the forger on 127.0.0.2, "the API server" on 127.0.0.1. Every forged
    // review names a new namespace or owner: the worst case for any per-key state.
    const reviews = Array.from({ length: FORGED }, (_, i) =>
      review(`f-${i}`, i % 2 ? VICTIM : `forged-${i}`, `ghost-${i}`, `uid-${i}`),
    );
    const apiServer = new Agent({ keepAlive: true, maxSockets: 1, localAddress: '127.0.0.1' });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const worker = new Worker(FORGER, { eval: true, workerData: { address: webhook.address, reviews } });
    let result: Record<string, number> | undefined;
    const flood = (once(worker, 'message') as Promise<[Record<string, number>]>).then(([c]) => {
      result = c;
    });
    const latencies: number[] = [];
    let n = 0;
    while (!result || n < 5) {
      const t = performance.now();
      const code = await post(webhook.address, apiServer, review(`real-${n++}`, APP_NS, SENDER));
      latencies.push(performance.now() - t);
      assert.equal(code, 200, 'the other source is never limited');
      await new Promise((r) => setTimeout(r, 50));
    }
    await flood;
    await worker.terminate();
    const seconds = (performance.now() - started) / 1000;
    delay.disable();
    apiServer.destroy();
    const codes = new Map(Object.entries(result).map(([k, v]) => [Number(k), v]));

    const ok = codes.get(200) ?? 0;
    const limited = (codes.get(429) ?? 0) + (codes.get(0) ?? 0);
    assert.equal(ok + limited, FORGED, `only 200, 429 and refused connections: ${[...codes]}`);
    const { perSecond, burst } = LIMITS.requests;
    assert.ok(
      ok <= burst + perSecond * seconds + 5,
      `${ok} forged reviews answered in ${seconds.toFixed(1)} s`,
    );
    assert.ok(limited > 0);
    const stats = webhook.stats();
    assert.ok(stats.rateLimited + stats.connectionsRefused > 0);
    assert.ok(stats.eventsPending <= 1024, `${stats.eventsPending} admissions pending`);
    const worst = Math.max(...latencies);
    // Bounds that matter, not benchmarks (this machine is shared): the API server gives up on a webhook
    // after its timeoutSeconds (5), and the same loop must renew the Lease well within its 15 s.
    assert.ok(worst < 5000, `the API server's review waited ${worst.toFixed(0)} ms`);
    assert.ok(delay.max / 1e6 < 5000, `event loop stalled ${(delay.max / 1e6).toFixed(0)} ms`);
    console.log(
      `flood: ${FORGED} forged in ${seconds.toFixed(1)} s, ${ok} answered, ${limited} turned away; ` +
        `other source worst ${worst.toFixed(0)} ms; event loop max ${(delay.max / 1e6).toFixed(0)} ms`,
    );

    // A real pod naming a missing sender gets its Event; the forged reviews before it got none.
    const r = await env.kubectlRaw(
      ['create', '-n', VICTIM, '-f', '-'],
      podManifest('real', { 'mailroom.dev/sender': 'ghost-real' }),
    );
    assert.equal(r.code, 0, r.stderr);
    const notes = await eventually(async () => {
      const list = JSON.parse(await env.kubectl('get', 'events.events.k8s.io', '-A', '-o', 'json'));
      const ours = (
        list.items as { reportingController?: string; regarding: { namespace: string; name: string } }[]
      )
        .filter((e) => e.reportingController === 'mailroom.dev/webhook')
        .map((e) => `${e.regarding.namespace}/${e.regarding.name}`);
      return ours.length > 0 ? ours : undefined;
    });
    assert.deepEqual(notes, [`${VICTIM}/real`]);
  });
});
