/**
 * A queue file damaged under a running sidecar (a real process, the injected NODE_OPTIONS): its
 * first pages and its WAL are overwritten while a deferred message waits in it. The sidecar does
 * not crash: it logs at error level, counts the event, moves the files aside
 * (`queue.db.corrupt-<time>` with its `-wal`), and a fresh queue takes and delivers new mail. The
 * message that waited in the damaged file stays there: with its first pages overwritten, nothing of
 * it can be read to copy into the fresh queue (documented in docs/sidecar.md).
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { getMessage, post, sidecarArgs, simple, spawnSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Overwrites the first `length` bytes of `file` (all of it by default) with 0xA5, keeping its size. */
function damage(file: string, length = statSync(file).size): void {
  const n = Math.min(length, statSync(file).size);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(n, 0xa5), 0, n, 0);
  closeSync(fd);
}

it('survives its queue file turning corrupt while it runs, and keeps accepting', {
  timeout: 60_000,
}, async () => {
  const upstream = await startUpstream({
    reply: (_n, raw) => (/^Subject: held/m.test(raw) ? { code: 451, text: '4.7.1 try later' } : undefined),
  });
  cleanups.push(() => upstream.close());
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const sc = await spawnSidecar(
    sidecarArgs(tmp.dir, upstream.port, ['--retry-base', '200ms', '--max-backoff', '1s']),
    { NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
  );
  cleanups.push(() => sc.kill('SIGKILL'));

  const first = await post(sc.httpPort, simple('before'));
  await waitFor(async () => (await getMessage(sc.httpPort, String(first.body.id))).state === 'sent');
  const held = await post(sc.httpPort, { to: 'held@example.org', subject: 'held', text: 'x' });
  await waitFor(async () => (await getMessage(sc.httpPort, String(held.body.id))).state === 'deferred');

  const db = join(tmp.dir, 'queue.db');
  damage(db, 64 * 1024);
  if (existsSync(`${db}-wal`)) damage(`${db}-wal`);

  await waitFor(
    () => /"level":"error".*the queue file turned corrupt while running/.test(sc.output.join('')),
    15_000,
    'the corruption to be noticed',
  );
  const aside = readdirSync(tmp.dir).filter((f) => f.startsWith('queue.db.corrupt-'));
  assert.ok(
    aside.some((f) => /^queue\.db\.corrupt-[0-9TZ-]+$/.test(f)),
    `moved aside: ${readdirSync(tmp.dir).join(' ')}`,
  );
  assert.ok(
    aside.some((f) => f.endsWith('-wal')),
    `WAL moved aside with it: ${aside.join(' ')}`,
  );
  const metrics = await (await fetch(`http://127.0.0.1:${sc.httpPort}/metrics`)).text();
  assert.match(metrics, /^mailroom_sidecar_queue_corrupt_total(\{[^}]*\})? 1$/m);

  // A fresh queue: new mail is accepted and delivered.
  const after = await post(sc.httpPort, simple('after'));
  assert.equal(after.status, 202);
  await waitFor(async () => (await getMessage(sc.httpPort, String(after.body.id))).state === 'sent');
  assert.ok(upstream.received.some((m) => m.headers.get('subject') === 'message after'));
  // The deferred message stayed in the damaged file (nothing of it is readable): the fresh queue does not know it.
  const gone = await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages/${String(held.body.id)}`);
  assert.equal(gone.status, 404);
  assert.equal(sc.child.exitCode, null, 'still running');
  await sc.kill('SIGTERM');
  assert.equal(sc.child.exitCode, 0);
});
