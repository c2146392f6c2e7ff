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
import nodemailer from 'nodemailer';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { spawnSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MAX = 10 * 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
    ],
    { NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
  );
  cleanups.push(() => sc.kill('SIGKILL'));
  const pid = sc.child.pid!;

  // Subjects of acknowledged messages (the SMTP door keeps the client's own Message-ID).
  const acked = new Set<string>();
  const tryLater: string[] = [];
  // JSON of just under the limit: the worst case for the heap (parsed, re-serialized, composed).
  const httpOne = async (i: number) => {
    const body = JSON.stringify({
      to: `h${i}@example.org`,
      subject: `big ${i}`,
      text: 'x'.repeat(MAX - 200),
    });
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `big-${i}` },
        body,
      });
      await res.json();
      if (res.status === 202 || res.status === 200) return acked.add(`big ${i}`);
      assert.ok(res.status === 503 || res.status === 507, `HTTP ${res.status}`);
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      tryLater.push(`HTTP ${res.status}`);
      await sleep(300);
    }
  };
  const smtp = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sc.smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  cleanups.push(() => smtp.close());
  const smtpOne = async (i: number) => {
    for (;;) {
      try {
        const info = await smtp.sendMail({
          from: 'app@example.org',
          to: `s${i}@example.org`,
          subject: `big smtp ${i}`,
          text: 'y\r\n'.repeat(Math.floor((MAX - 4096) / 3 / 1.1)),
        });
        assert.match(info.response, /Queued as [0-9a-f-]{36}/);
        return acked.add(`big smtp ${i}`);
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        assert.equal(code, 452, String(err));
        tryLater.push('SMTP 452');
        await sleep(300);
      }
    }
  };
  const N = 4;
  const sending = Promise.all([
    ...Array.from({ length: N - 1 }, (_, i) => httpOne(i)),
    ...Array.from({ length: N / 2 }, (_, i) => smtpOne(i)),
  ]);
  await waitFor(
    () => acked.size >= 4 && upstream.stalled() >= 2,
    90_000,
    'messages acknowledged while the upstream stalls after DATA',
  );
  upstream.stall(false);
  await sending;
  await waitFor(
    () => {
      const subjects = new Set(upstream.received.map((m) => m.headers.get('subject')));
      return [...acked].every((subject) => subjects.has(subject));
    },
    120_000,
    'every acknowledged message at the upstream',
  );
  assert.equal(sc.child.exitCode, null, 'the sidecar is still running');
  assert.equal(sc.child.signalCode, null);
  assert.ok(!sc.output.join('').includes('heap limit'), 'no heap exhaustion');
  t.diagnostic(
    `${acked.size} acknowledged, ${tryLater.length} try-later answers (${[...new Set(tryLater)].join(', ')}), ` +
      `${upstream.stalled()} stalled at the upstream, peak RSS ${rss(pid, 'VmHWM').toFixed(0)} MB`,
  );
});
