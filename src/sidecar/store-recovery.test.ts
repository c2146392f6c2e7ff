import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type CorruptQueue, QueueStore } from './store.ts';
import type { NewMessage, Outcome } from './types.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const open = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailroom-corrupt-'));
  dirs.push(dir);
  const store = new QueueStore(dir, { windowMs: 0, spareBytes: 64 * 1024 });
  const swapped = new Promise<CorruptQueue>((resolve) => {
    store.onCorrupt = resolve;
  });
  return { dir, store, swapped };
};
const msg = (n: number, size = 64): NewMessage => ({
  door: 'http',
  kind: 'raw',
  payload: Buffer.alloc(size, 0x30 + (n % 10)),
  recipients: [`u${n}@example.org`],
  subject: `s${n}`,
});
const sent: Outcome = {
  state: 'sent',
  attempt: { at: new Date().toISOString(), code: 250, reply: '250 ok', durationMs: 1 },
  configRevision: 'r1',
  recipients: [{ n: 0, state: 'sent', code: 250, reply: '250 ok' }],
};

/** Overwrites `length` bytes of `file` at `at` with 0xA5, keeping its size. */
function damage(file: string, at: number, length = statSync(file).size - at): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, at);
  closeSync(fd);
}

describe('a queue file that turns corrupt while the store is open', () => {
  it('moves the file aside on SQLITE_CORRUPT from a statement and goes on with a fresh queue', async () => {
    const { dir, store, swapped } = open();
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.enqueue(msg(i, 8192))));
    const [old] = await store.claim(1);
    assert.ok(old);
    // Every page in the file (none left in the WAL), and a page cache too small to hide the damage.
    store.db.exec('PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size = 1');
    damage(join(dir, 'queue.db'), 4096);
    assert.throws(() => store.counts(), /malformed/);
    // Queued before the swap: refused, not written into the file being given up.
    await assert.rejects(store.enqueue(msg(99)), /corrupt|malformed/);

    const e = await swapped;
    assert.match(e.problem, /malformed/);
    assert.match(e.path, /queue\.db\.corrupt-[0-9TZ-]+$/);
    assert.ok(existsSync(e.path), 'the damaged file is kept');
    assert.deepEqual(
      Object.values(store.counts()).reduce((a, b) => a + b),
      0,
      'a fresh queue',
    );

    const { id } = await store.enqueue(msg(1000));
    const [fresh] = await store.claim(1);
    assert.equal(fresh?.id, id);
    assert.notEqual(fresh.seq, old.seq, 'seq numbers stay unique across the swap');
    assert.equal(store.payload(old.seq, old.size), undefined, 'the old payload went with the old file');
    assert.equal(store.payload(fresh.seq, fresh.size)?.length, 64);
    // The outcome of an attempt claimed from the old file is dropped: it must not land on the new message.
    await store.finish(old.seq, sent);
    assert.equal(store.get(id)?.state, 'sending');
    await store.finish(fresh.seq, sent);
    assert.equal(store.get(id)?.state, 'sent');
    store.close();
  });

  it('finds an overwritten header that its own page cache hides, by probing the file', async () => {
    const { dir, store, swapped } = open();
    await store.enqueue(msg(1));
    store.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    damage(join(dir, 'queue.db'), 0, 4096);
    // The open connection still reads its cached pages: nothing fails yet.
    assert.equal(store.counts().queued, 1);
    const e = await swapped;
    assert.match(e.problem, /not a database/);
    assert.equal(store.counts().queued, 0);
    await store.enqueue(msg(2));
    assert.equal(store.counts().queued, 1);
    store.close();
  });
});
