/**
 * Start-up recovery, with real processes: a message whose attempts keep ending with the process
 * killed (SIGKILL while the upstream holds its DATA) is abandoned after three such attempts
 * instead of crash-looping; a corrupt queue file (not a database, or a malformed one) is moved
 * aside, counted in a metric, logged at error level, and a fresh queue takes and delivers mail.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import {
  getMessage,
  post,
  type SidecarProcess,
  sidecarArgs,
  simple,
  spawnSidecar,
} from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('start-up recovery', () => {
  it('abandons a message whose attempts end in a crash three times', { timeout: 90_000 }, async () => {
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    upstream.stall(true);
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    let sc: SidecarProcess = await spawnSidecar(sidecarArgs(tmp.dir, upstream.port));
    cleanups.push(() => sc.kill('SIGKILL'));
    const { body } = await post(sc.httpPort, simple('poison'));
    const id = String(body.id);
    for (let crash = 1; crash <= 3; crash++) {
      // The upstream has the whole message and says nothing: the attempt is under way. Kill.
      await waitFor(() => upstream.stalled() >= crash, 20_000, `attempt ${crash} at the upstream`);
      await sc.kill('SIGKILL');
      sc = await spawnSidecar(sidecarArgs(tmp.dir, upstream.port));
    }
    const v = await getMessage(sc.httpPort, id);
    assert.equal(v.state, 'abandoned');
    assert.match(v.reason ?? '', /3 attempts ended with the sidecar stopping/);
    assert.equal(v.attempts.length, 3);
    for (const a of v.attempts) assert.match(a.reply, /stopped during this attempt/);
    assert.equal(v.recipientStates[0]?.state, 'abandoned');
    assert.match(sc.output.join(''), /"level":"error".*attempts kept ending with the sidecar stopping/);
    // No fourth attempt: the queue moves on.
    upstream.stall(false);
    const next = await post(sc.httpPort, simple('after'));
    await waitFor(async () => (await getMessage(sc.httpPort, String(next.body.id))).state === 'sent');
    assert.equal(upstream.stalled(), 3);
    await sc.kill('SIGTERM');
  });

  const corruptions: Array<[string, (file: string) => void]> = [
    ['not a database', (file) => writeFileSync(file, Buffer.alloc(16384, 0x41))],
    [
      'a malformed database',
      (file) => {
        const db = new DatabaseSync(file);
        db.exec('CREATE TABLE junk (v BLOB); INSERT INTO junk VALUES (randomblob(200000));');
        db.close();
        // Overwrite pages in the middle of the file, past the header.
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(20_000, 0xff), 0, 20_000, 4096 * 3);
        closeSync(fd);
      },
    ],
  ];
  for (const [what, corrupt] of corruptions) {
    it(`moves ${what} aside and starts a fresh queue`, { timeout: 60_000 }, async () => {
      const upstream = await startUpstream();
      cleanups.push(() => upstream.close());
      const tmp = tempDir();
      cleanups.push(tmp.remove);
      corrupt(join(tmp.dir, 'queue.db'));
      const sc = await spawnSidecar(sidecarArgs(tmp.dir, upstream.port));
      cleanups.push(() => sc.kill('SIGKILL'));
      const aside = readdirSync(tmp.dir).filter((f) => /^queue\.db\.corrupt-[0-9TZ-]+$/.test(f));
      assert.equal(aside.length, 1, readdirSync(tmp.dir).join(' '));
      assert.ok(existsSync(join(tmp.dir, 'queue.db')));
      assert.match(
        sc.output.join(''),
        /"level":"error".*the queue file was corrupt or unreadable: moved it aside/,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${sc.httpPort}/metrics`)).text();
      assert.match(metrics, /^mailroom_sidecar_queue_corrupt_total(\{[^}]*\})? 1$/m);
      const { body } = await post(sc.httpPort, simple('fresh'));
      await waitFor(async () => (await getMessage(sc.httpPort, String(body.id))).state === 'sent');
      await sc.kill('SIGTERM');
      assert.equal(sc.child.exitCode, 0);
    });
  }
});
