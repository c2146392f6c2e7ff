/**
 * Leader election with a deadline (issue 11), end to end: two controllers on a real apiserver, one
 * of them through a TCP proxy that stops forwarding. The cut-off leader stops acting within its
 * renew deadline, before the standby can take the Lease; their own logs and `leader` metrics, with
 * timestamps, never show two leaders at once.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import { type StallingProxy, startStallingProxy } from '../support/stalling-proxy.ts';

const LEASE_MS = 6000;
const RENEW_DEADLINE_MS = 4000;
const RETRY_MS = 1000;
const FLAGS = [
  '--leader-elect',
  '--lease-namespace',
  'mailroom-system',
  '--leader-elect-lease-duration',
  `${LEASE_MS}ms`,
  '--leader-elect-renew-deadline',
  `${RENEW_DEADLINE_MS}ms`,
  '--leader-elect-retry-period',
  `${RETRY_MS}ms`,
];

/** When a controller's own log says `msg` (pino's ISO time), or undefined. */
function loggedAt(c: ControllerProcess, msg: string): number | undefined {
  for (const line of c.lines) {
    if (!line.includes(msg)) continue;
    const rec = JSON.parse(line) as { msg: string; time: string };
    if (rec.msg === msg) return Date.parse(rec.time);
  }
  return undefined;
}

/** The `leader` gauge of a controller; 0 when its process no longer answers (it is gone). */
async function leaderMetric(c: ControllerProcess): Promise<number> {
  try {
    const text = await (await fetch(`${c.metricsUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    return Number(/^mailroom_controller_leader (\S+)/m.exec(text)?.[1] ?? Number.NaN);
  } catch {
    return 0;
  }
}

describe('leader election when the API server stops answering one replica', () => {
  let env: ControllerEnv;
  let proxy: StallingProxy;
  let proxied: string;

  before(async () => {
    env = await startControllerEnv();
    const server = new URL(env.cp.server);
    proxy = await startStallingProxy(server.hostname, Number(server.port));
    const kubeconfig = parse(await readFile(env.controllerKubeconfig, 'utf8'));
    kubeconfig.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
    proxied = join(env.cp.dataDir, 'proxied.kubeconfig');
    await writeFile(proxied, stringify(kubeconfig), { mode: 0o600 });
  });
  after(async () => {
    await proxy?.close();
    await env?.stop();
  });

  test('the cut-off leader stops within its renew deadline, before the standby takes over', async (t) => {
    const a = await env.startController(['--kubeconfig', proxied, ...FLAGS]);
    await eventually(async () => (await leaderMetric(a)) === 1, 20_000, 'a leads');
    const b = await env.startController(FLAGS);
    const samples: Array<{ at: number; a: number; b: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const at = Date.now();
        const [ma, mb] = await Promise.all([leaderMetric(a), leaderMetric(b)]);
        samples.push({ at, a: ma, b: mb });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await eventually(async () => (await fetch(`${b.healthUrl}/readyz`)).status === 200, 10_000, 'b ready');
      assert.equal(await leaderMetric(b), 0, 'b stands by');

      const stalledAt = Date.now();
      proxy.stall();
      await eventually(async () => (await leaderMetric(b)) === 1, 30_000, 'b leads');
      await new Promise((r) => setTimeout(r, 1500)); // a few samples of the new state
      sampling = false;
      await sampler;

      const aLed = loggedAt(a, 'became leader');
      const aStopped = loggedAt(a, 'workers stopped: leadership lost');
      const bLed = loggedAt(b, 'became leader');
      assert.ok(aLed && bLed, 'both say when they became leader');
      assert.ok(aStopped, `a says when it stopped:\n${a.lines.slice(-20).join('\n')}`);
      const timeline = `a led ${aLed - stalledAt} ms, a stopped ${aStopped - stalledAt} ms, b led ${bLed - stalledAt} ms after the stall`;
      t.diagnostic(timeline);
      assert.ok(aStopped < bLed, `one leader at a time: ${timeline}`);
      // Its last renewal was sent before the stall: it stops at most the renew deadline after it.
      assert.ok(
        aStopped - stalledAt <= RENEW_DEADLINE_MS + 500,
        `a stopped within its renew deadline: ${timeline}`,
      );
      assert.ok(bLed - aStopped >= 500, `a margin before the lease could expire for b: ${timeline}`);

      const both = samples.filter((s) => s.a === 1 && s.b === 1);
      assert.deepEqual(both, [], 'the metrics never show two leaders');
      assert.ok(samples.some((s) => s.a === 1) && samples.some((s) => s.b === 1), 'each was seen leading');
    } finally {
      sampling = false;
      await sampler;
      a.child.kill('SIGKILL');
      await a.stop();
      await b.stop();
    }
  });
});
