/**
 * Heap exhaustion, as an operator would meet it: the sidecar runs as a process with the injected
 * NODE_OPTIONS (a 64 MB old space) and default limits; messages of the maximum size keep arriving at
 * both doors while the upstream stalls after DATA. The process never dies (no "Reached heap
 * limit"): the doors answer "try later" (HTTP 503 + Retry-After, SMTP 452 4.3.1) when the byte
 * budget is spent, and every message they acknowledged reaches the upstream once it answers again.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, it } from 'node:test';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { allDelivered, type BurstResult, maxSizeBurst } from '../support/sidecar-bigmail.ts';
import { spawnSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MAX = 10 * 1024 * 1024;
const rss = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

it('survives max-size messages while the upstream stalls, and delivers every acknowledged one', {
  timeout: 180_000,
}, async (t) => {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  upstream.stall(true);
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const sc = await spawnSidecar(
    [
      '--data-dir',
      tmp.dir,
      '--uri',
      `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`,
      '--from',
      'no-reply@example.com',
      '--send-timeout',
      '3s',
      '--retry-base',
      '1s',
      '--max-backoff',
      '2s',
      '--max-attempts',
      '100',
      // Large messages stream through the doors and the sender a few parts at a time: a budget of a
      // few parts, so that the messages arriving together do not all fit and the doors must say
      // "try later".
      '--max-in-flight-bytes',
      '2MiB',
    ],
    { NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
  );
  cleanups.push(() => sc.kill('SIGKILL'));
  const pid = sc.child.pid!;

  const result: BurstResult = { acked: new Set(), tryLater: [] };
  const { acked, tryLater } = result;
  const sending = maxSizeBurst({
    httpPort: sc.httpPort,
    smtpPort: sc.smtpPort,
    http: 3,
    smtp: 2,
    maxBytes: MAX,
    result,
  });
  await waitFor(
    () => acked.size >= 4 && upstream.stalled() >= 2,
    90_000,
    'messages acknowledged while the upstream stalls after DATA',
  );
  upstream.stall(false);
  await sending;
  await waitFor(
    () => allDelivered(acked, upstream.received),
    120_000,
    'every acknowledged message at the upstream',
  );
  assert.equal(sc.child.exitCode, null, 'the sidecar is still running');
  assert.equal(sc.child.signalCode, null);
  assert.ok(!sc.output.join('').includes('heap limit'), 'no heap exhaustion');
  assert.ok(tryLater.length > 0, 'the doors said "try later" while the budget was spent');
  t.diagnostic(
    `${acked.size} acknowledged, ${tryLater.length} try-later answers (${[...new Set(tryLater)].join(', ')}), ` +
      `${upstream.stalled()} stalled at the upstream, peak RSS ${rss(pid, 'VmHWM').toFixed(0)} MB`,
  );
});
