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

/** Where the root page of `index` starts in the file (the file's pages are 4 KiB). */
function rootPageOffset(store: QueueStore, index: string): number {
  const { rootpage } = store.db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(index) as {
    rootpage: number;
  };
  return (rootpage - 1) * 4096;
}

describe('salvage of a queue file moved aside as corrupt', () => {
  it('at start: copies every readable message into the fresh queue, abandons one whose payload is short', async () => {
    const { dir, store } = open();
    const payloads = Array.from({ length: 30 }, (_, i) => Buffer.alloc(3000 + i, 0x41 + (i % 26)));
    const ids: string[] = [];
    for (const [i, payload] of payloads.entries()) ids.push((await store.enqueue({ ...msg(i), payload })).id);
    const done = await store.claim(2);
    for (const c of done) await store.finish(c.seq, sent);
    // A message whose payload went missing: it must be abandoned with a reason, not sent short.
    const shortSeq = (
      store.db.prepare('SELECT seq FROM messages WHERE id = ?').get(ids[10]!) as { seq: number }
    ).seq;
    store.db.prepare('DELETE FROM payloads WHERE seq = ?').run(shortSeq);
    store.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const at = rootPageOffset(store, 'messages_state');
    store.close();
    damage(join(dir, 'queue.db'), at, 4096);

    const again = new QueueStore(dir, { windowMs: 0, spareBytes: 64 * 1024 });
    const aside = again.movedAside;
    assert.ok(aside, 'the damaged file was moved aside');
    assert.match(aside.problem, /malformed|corrupt|quick_check/);
    assert.deepEqual(aside.salvage, { requeued: 27, damaged: 1, history: 2, unreadable: false });
    assert.equal(again.get(ids[0]!)?.state, 'sent', 'the delivery log is kept');
    assert.equal(again.get(ids[0]!)?.attempts[0]?.code, 250, 'with the attempt that sent it');
    const short = again.get(ids[10]!);
    assert.equal(short?.state, 'abandoned');
    assert.match(short?.reason ?? '', /damaged in a corrupt queue file \(kept as .*queue\.db\.corrupt-/);
    assert.equal(short?.recipientStates[0]?.state, 'abandoned');
    // Every other message is delivered from the fresh queue with its payload intact, under its own id.
    const claimed = await again.claim(100);
    assert.equal(claimed.length, 27);
    for (const c of claimed) {
      const i = ids.indexOf(c.id);
      assert.ok(i >= 2 && i !== 10, `claimed ${c.id}`);
      assert.deepEqual(again.payload(c.seq, c.size), payloads[i]);
    }
    const { id } = await again.enqueue(msg(99));
    assert.equal(again.get(id)?.state, 'queued', 'new mail goes on into the fresh queue');
    again.close();
  });

  it('while running: copies the queue, returning a message being sent to the queue', async () => {
    const { dir, store, swapped } = open();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await store.enqueue(msg(i, 2000))).id);
    const [inFlight] = await store.claim(1);
    assert.ok(inFlight);
    store.db.exec('PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size = 1');
    damage(join(dir, 'queue.db'), rootPageOffset(store, 'messages_state'), 4096);
    assert.throws(() => store.list({ state: 'queued' }), /malformed/);

    const e = await swapped;
    assert.deepEqual(e.salvage, { requeued: 10, damaged: 0, history: 0, unreadable: false });
    // The send under way belongs to the old file: its outcome is dropped, and the message goes out
    // again from the fresh queue (at least once), its interrupted attempt in the log.
    await store.finish(inFlight.seq, sent);
    const view = store.get(inFlight.id);
    assert.equal(view?.state, 'queued');
    assert.match(view?.attempts[0]?.reply ?? '', /queue file turned corrupt during this attempt/);
    const claimed = await store.claim(100);
    assert.deepEqual(claimed.map((c) => c.id).sort(), [...ids].sort());
    store.close();
  });
});
