import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type IntakeTaker, QueueStore, type StoreOptions } from './store.ts';
import { INTERRUPTED } from './store-recovery.ts';
import type { ClaimedMessage, NewMessage } from './types.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const open = (o: StoreOptions = {}, dir = mkdtempSync(join(tmpdir(), 'mailroom-intake-'))) => {
  dirs.push(dir);
  return { dir, store: new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024, ...o }) };
};
const msg = (n: number, key?: string): NewMessage => ({
  door: 'http',
  kind: 'json',
  payload: Buffer.from(`{"n":${n}}`),
  recipients: [`u${n}@example.org`, `v${n}@example.org`],
  subject: `s${n}`,
  ...(key ? { idempotencyKey: key } : {}),
});

/** A taker that takes while `room` says so, and keeps what it was told. */
function recordingTaker(room: () => boolean = () => true) {
  const log = {
    asked: [] as number[],
    taken: [] as ClaimedMessage[],
    dropped: [] as number[],
  };
  const taker: IntakeTaker = {
    take: (seq) => {
      log.asked.push(seq);
      return room();
    },
    taken: (m) => log.taken.push(m),
    dropped: (seq) => log.dropped.push(seq),
  };
  return { taker, log };
}

describe('new mail taken at intake', () => {
  it('is stored in sending with its first attempt counted, handed over with its payload once durable, and never claimed', async () => {
    const { store } = open();
    const { taker, log } = recordingTaker();
    store.taker = taker;
    const { id } = await store.enqueue(msg(1));
    assert.equal(log.taken.length, 1);
    const m = log.taken[0]!;
    assert.equal(m.id, id);
    assert.equal(m.attempts, 1);
    assert.equal(m.delivered, 0);
    assert.deepEqual(m.pending, [
      { n: 0, address: 'u1@example.org' },
      { n: 1, address: 'v1@example.org' },
    ]);
    assert.equal(m.payload?.toString(), '{"n":1}');
    assert.deepEqual(store.counts(), { queued: 0, sending: 1, sent: 0, deferred: 0, abandoned: 0 });
    assert.deepEqual(await store.claim(10), [], 'a claim does not take it a second time');
    // Its outcome is recorded as a claimed message's is: the attempt numbered 1.
    await store.finish(m.seq, {
      state: 'sent',
      attempt: { at: new Date().toISOString(), code: 250, reply: '250 ok', durationMs: 3 },
      configRevision: 'r1',
      recipients: [0, 1].map((n) => ({ n, state: 'sent' as const, code: 250, reply: '250 ok' })),
    });
    const v = store.get(id)!;
    assert.equal(v.state, 'sent');
    assert.deepEqual(
      v.attempts.map((a) => [a.code, a.reply]),
      [[250, '250 ok']],
    );
    store.close();
  });

  it('is handed over with its payload (and the header block as the door read it) when it was streamed into the queue', async () => {
    const { store } = open();
    const { taker, log } = recordingTaker();
    store.taker = taker;
    const writer = store.begin();
    writer.write(Buffer.from('Subject: a\r\n\r\n'));
    writer.write(Buffer.from('body\r\n'));
    const head = { headers: [{ name: 'Subject', value: 'a' }], bodyStart: 14 };
    await store.enqueue({
      door: 'smtp',
      kind: 'raw',
      payload: writer,
      recipients: ['a@example.org'],
      subject: 'a',
      head,
    });
    assert.equal(log.taken[0]?.payload?.toString(), 'Subject: a\r\n\r\nbody\r\n');
    assert.equal(log.taken[0]?.head, head, 'the door read the header block: compose does not read it again');
    store.close();
  });

  it('goes to the queue when the taker has no room, and is claimed from there', async () => {
    const { store } = open();
    const { taker, log } = recordingTaker(() => false);
    store.taker = taker;
    const { id } = await store.enqueue(msg(1));
    assert.equal(log.asked.length, 1);
    assert.equal(log.taken.length, 0);
    assert.equal(store.get(id)!.state, 'queued');
    const [c] = await store.claim(10);
    assert.equal(c?.id, id);
    assert.equal(c?.attempts, 1);
    store.close();
  });

  it('hands the slot back for a repeated idempotency key: the first message is the one', async () => {
    const { store } = open();
    const { taker, log } = recordingTaker();
    store.taker = taker;
    const first = await store.enqueue(msg(1, 'k'));
    const again = await store.enqueue(msg(1, 'k'));
    assert.equal(again.duplicate, true);
    assert.equal(again.id, first.id);
    assert.equal(log.taken.length, 1, 'sent once');
    assert.deepEqual(log.dropped, [log.asked[1]]);
    store.close();
  });

  it('hands the slot back when the fsync fails; the row, committed, is returned to the queue by the sweeper', async () => {
    const { store } = open({
      sync: (_fd, done) => done(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })),
    });
    const { taker, log } = recordingTaker();
    store.taker = taker;
    await assert.rejects(store.enqueue(msg(1)), /i\/o error/);
    assert.equal(log.taken.length, 0, 'not sent: the app was told it failed');
    assert.deepEqual(log.dropped, log.asked);
    const later = Date.now() + 1000;
    assert.equal(await store.sweep(later, new Set(), later), 1);
    assert.equal(store.counts().queued, 1);
    store.close();
  });

  it('is found in sending after a crash: its attempt marked interrupted, counted, and queued again', async () => {
    const { dir, store } = open();
    const { taker, log } = recordingTaker();
    store.taker = taker;
    const { id } = await store.enqueue(msg(1));
    assert.equal(log.taken.length, 1);
    // A crash: the process is gone without closing (close() would requeue without counting).
    const reopened = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
    assert.equal(reopened.recovered, 1);
    const v = reopened.get(id)!;
    assert.equal(v.state, 'queued');
    assert.deepEqual(
      v.attempts.map((a) => [a.code, a.reply]),
      [[null, INTERRUPTED]],
    );
    const [c] = await reopened.claim(10);
    assert.equal(c?.id, id);
    assert.equal(c?.attempts, 2);
    reopened.close();
  });
});
