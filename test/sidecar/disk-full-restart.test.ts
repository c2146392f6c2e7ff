/**
 * A restart on a disk with no room at all (found by test/sidecar/fault-sequences.test.ts): the queue
 * lives on a small tmpfs this test mounts (it runs as root), a ballast file fills it, the sidecar
 * gives up its spare file for deliveries, the ballast takes that room too, and the sidecar is
 * killed. SQLite cannot even open the queue then (it rebuilds its `-shm`), and the sidecar used to
 * exit at start: a crash loop for as long as the disk stays full. Now it starts, refuses new mail
 * with "try later", answers `503` (not `404`) for the messages it cannot read yet, opens the queue
 * by itself once the disk has room, and delivers what it had accepted.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { freePort, post, sidecarArgs, simple, spawnSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, waitFor } from '../support/sidecar-upstream.ts';
import { fillUntilFull, mountTmpfs } from '../support/tmpfs.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

it('starts on a disk with no room, refuses new mail, and delivers once there is room', {
  timeout: 90_000,
}, async () => {
  const fs = mountTmpfs('32m');
  cleanups.push(fs.remove);
  const ballast = join(fs.dir, 'ballast');

  const port = await freePort();
  const args = sidecarArgs(join(fs.dir, 'queue'), port, [
    '--retry-base',
    '200ms',
    '--max-backoff',
    '1s',
    '--max-attempts',
    '1000',
  ]);
  const env = { NODE_OPTIONS: SIDECAR_NODE_OPTIONS };
  let sc = await spawnSidecar(args, env);
  cleanups.push(() => sc.kill('SIGKILL'));
  // Accepted while the upstream is down: it waits in the queue.
  const { body } = await post(sc.httpPort, simple('queued'));
  const id = String(body.id);

  fillUntilFull(ballast);
  // The first write that meets the full disk gives the spare file up; the ballast takes that too.
  await waitFor(async () => (await post(sc.httpPort, simple('refused'))).status === 507);
  fillUntilFull(ballast);
  await sc.kill('SIGKILL');

  sc = await spawnSidecar(args, env);
  assert.match(sc.output.join(''), /"level":"error".*the queue cannot be opened yet/);
  const refused = await post(sc.httpPort, simple('while full'));
  assert.equal(refused.status, 507);
  assert.equal(refused.body.error, 'DiskFull');
  const unknown = await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages/${id}`);
  assert.equal(unknown.status, 503, 'not readable yet, which is not "no such message"');
  assert.equal(((await unknown.json()) as { error: string }).error, 'QueueNotOpen');
  assert.ok(Number(unknown.headers.get('retry-after')) > 0, 'Retry-After');
  assert.equal((await fetch(`http://127.0.0.1:${sc.httpPort}/healthz`)).status, 200);

  const upstream = await startUpstream({ port });
  cleanups.push(() => upstream.close());
  rmSync(ballast);
  await waitFor(
    () => upstream.received.some((m) => m.headers.get('subject') === 'message queued'),
    30_000,
    'the message accepted before the restart to be delivered',
  );
  await waitFor(async () => (await post(sc.httpPort, simple('after'))).status === 202, 30_000, 'acceptance');
  assert.match(sc.output.join(''), /the queue disk has room: opened the queue/);
  assert.equal(sc.child.exitCode, null);
});
