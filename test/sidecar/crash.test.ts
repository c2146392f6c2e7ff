/**
 * SIGKILL the sidecar (a real process) in the middle of a burst of 5,000 messages, restart it on the
 * same data directory: every acknowledged message reaches the upstream, counted there by Message-ID;
 * duplicates stay within the in-flight window.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { post, type SidecarProcess, spawnSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const TOTAL = 5000;
const IN_FLIGHT = 32;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

it('loses no acknowledged message when killed mid-burst', { timeout: 150_000 }, async (t) => {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const args = [
    '--data-dir',
    tmp.dir,
    '--uri',
    `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`,
    '--from',
    'no-reply@example.com',
    '--max-in-flight',
    String(IN_FLIGHT),
  ];
  let sc: SidecarProcess = await spawnSidecar(args);
  cleanups.push(() => sc.kill('SIGKILL'));

  const acked = new Map<number, string>();
  let killed = false;
  // Posts every index not yet acknowledged; the idempotency key makes a retry of a message that was
  // committed but not acknowledged (the kill came in between) return the same id.
  const burst = async (port: number) => {
    let next = 0;
    const worker = async () => {
      while (!killed || port !== firstPort) {
        const i = next++;
        if (i >= TOTAL) return;
        if (acked.has(i)) continue;
        try {
          const r = await post(
            port,
            { to: `u${i}@example.org`, subject: `crash ${i}`, text: 'x' },
            {
              'idempotency-key': `crash-${i}`,
            },
          );
          if (r.status === 202 || r.status === 200) acked.set(i, String(r.body.id));
        } catch {
          // The connection died with the process: this one was not acknowledged.
        }
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
  };
  const firstPort = sc.httpPort;
  const first = burst(sc.httpPort);
  await waitFor(() => acked.size >= TOTAL / 2 && upstream.received.length > 0, 60_000, 'half the burst');
  const ackedAtKill = acked.size;
  const deliveredAtKill = upstream.received.length;
  await sc.kill('SIGKILL');
  killed = true;
  await first;
  assert.ok(ackedAtKill < TOTAL, 'the kill came before the burst was fully accepted');
  assert.ok(deliveredAtKill < ackedAtKill, 'acknowledged messages were still waiting in the queue');

  sc = await spawnSidecar(args);
  await burst(sc.httpPort);
  assert.equal(acked.size, TOTAL, 'every message acknowledged after the restart');

  const wanted = new Set([...acked.values()]);
  await waitFor(
    () => {
      const seen = new Set(
        upstream.received.map((m) => /<([0-9a-f-]{36})@/.exec(m.headers.get('message-id') ?? '')?.[1]),
      );
      for (const id of wanted) if (!seen.has(id)) return false;
      return true;
    },
    60_000,
    'every acknowledged message at the upstream',
  );
  const ids = upstream.received.map((m) => m.headers.get('message-id'));
  const duplicates = ids.length - new Set(ids).size;
  assert.ok(duplicates <= IN_FLIGHT, `${duplicates} duplicates exceed the in-flight window of ${IN_FLIGHT}`);
  t.diagnostic(
    `killed with ${ackedAtKill} acknowledged and ${deliveredAtKill} delivered; ${ids.length} received, ${duplicates} duplicates`,
  );
  await sc.kill('SIGTERM');
  assert.equal(sc.child.exitCode, 0, 'a SIGTERM stops it cleanly');
});
