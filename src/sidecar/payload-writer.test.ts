import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PAYLOAD_PART } from './limits.ts';
import { QueueRefusedError, QueueStore } from './store.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailroom-writer-'));
  dirs.push(dir);
  return dir;
};
const open = (dir = tmp(), maxQueueBytes?: number) =>
  new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024, ...(maxQueueBytes ? { maxQueueBytes } : {}) });
const meta = { door: 'smtp' as const, kind: 'raw' as const, recipients: ['a@example.org'], subject: 's' };
const parts = (store: QueueStore) =>
  (store.db.prepare('SELECT count(*) AS n FROM payloads').get() as { n: number }).n;

/** Writes `bytes` into `w` in uneven chunks, waiting when the writer asks to. */
async function feed(w: ReturnType<QueueStore['begin']>, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; at += 70_001) await w.write(bytes.subarray(at, at + 70_001));
}

describe('streamed payloads', () => {
  it('stores a payload written in chunks across several parts, byte for byte', async () => {
    const store = open();
    const body = randomBytes(3 * PAYLOAD_PART + 12_345);
    const w = store.begin();
    await feed(w, body);
    const { id, duplicate } = await store.enqueue({ ...meta, payload: w });
    assert.equal(duplicate, false);
    const [m] = await store.claim(1);
    assert.equal(m?.id, id);
    assert.equal(m?.size, body.length);
    assert.ok(store.payload(m!.seq, m!.size)?.equals(body));
    // A message enqueued whole after it takes the next seq, not one of the streamed parts'.
    await store.enqueue({ ...meta, payload: Buffer.from('x') });
    const [n] = await store.claim(1);
    assert.equal(store.payload(n!.seq, n!.size)?.toString(), 'x');
    store.close();
  });

  it('a small payload is one write with its message, an empty one is stored empty', async () => {
    const store = open();
    const w = store.begin();
    assert.equal(w.write(Buffer.from('hello')), undefined);
    const commits = store.committer.commits;
    await store.enqueue({ ...meta, payload: w });
    assert.equal(store.committer.commits, commits + 1);
    const e = store.begin();
    await store.enqueue({ ...meta, payload: e });
    const got = await store.claim(2);
    assert.deepEqual(
      got.map((m) => store.payload(m.seq, m.size)?.toString()),
      ['hello', ''],
    );
    store.close();
  });

  it('asks the caller to wait while a part is being written: a transfer holds at most two parts', async () => {
    const store = open();
    const w = store.begin();
    const chunk = () => randomBytes(64 * 1024);
    // Less than a part: nothing is written yet, nothing to wait for.
    for (let i = 0; i < 3; i++) assert.equal(w.write(chunk()), undefined);
    // The fourth chunk completes a part: it goes to the queue, and the caller must wait for it.
    const wait = w.write(chunk());
    assert.ok(wait instanceof Promise);
    await wait;
    // Written: reading may go on until the next part is complete.
    assert.equal(w.write(chunk()), undefined);
    const { id } = await store.enqueue({ ...meta, payload: w });
    const [m] = await store.claim(1);
    assert.equal(m?.id, id);
    assert.equal(m?.size, 5 * 64 * 1024);
    store.close();
  });

  it('an aborted payload leaves nothing behind', async () => {
    const store = open();
    const w = store.begin();
    await feed(w, randomBytes(2 * PAYLOAD_PART + 1));
    w.abort();
    await new Promise((r) => setTimeout(r, 50));
    await store.committer.write(() => undefined);
    assert.equal(parts(store), 0);
    store.close();
  });

  it('parts left by a process that stopped mid-message are deleted at the next open', async () => {
    const dir = tmp();
    const store = open(dir);
    const w = store.begin();
    await feed(w, randomBytes(2 * PAYLOAD_PART + 1));
    // Let the part writes commit, then stop without the message row (as a crash would).
    await store.committer.write(() => undefined);
    assert.equal(parts(store), 2);
    store.close();
    const again = open(dir);
    assert.equal(parts(again), 0);
    const { id } = await again.enqueue({ ...meta, payload: Buffer.from('after') });
    const [m] = await again.claim(1);
    assert.equal(m?.id, id);
    assert.equal(again.payload(m!.seq, m!.size)?.toString(), 'after');
    again.close();
  });

  it('a payload that takes the queue past its quota is refused, and its parts are dropped', async () => {
    const store = open(tmp(), 2 * PAYLOAD_PART);
    const w = store.begin();
    await feed(w, randomBytes(4 * PAYLOAD_PART));
    await assert.rejects(store.enqueue({ ...meta, payload: w }), QueueRefusedError);
    await new Promise((r) => setTimeout(r, 50));
    await store.committer.write(() => undefined);
    assert.equal(parts(store), 0);
    assert.deepEqual(store.counts().queued, 0);
    store.close();
  });
});
