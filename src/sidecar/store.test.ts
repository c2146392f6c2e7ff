import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { IdempotencyConflictError, QueueRefusedError, QueueStore, type StoreOptions } from './store.ts';
import { INTERRUPTED } from './store-recovery.ts';
import type { NewMessage, Outcome } from './types.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailroom-store-'));
  dirs.push(dir);
  return dir;
};
const open = (dir = tmp(), o: StoreOptions = {}) => ({
  dir,
  store: new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024, ...o }),
});
const msg = (n: number, key?: string, recipients = [`u${n}@example.org`]): NewMessage => ({
  door: 'http',
  kind: 'json',
  payload: Buffer.from(`{"n":${n}}`),
  recipients,
  subject: `s${n}`,
  ...(key ? { idempotencyKey: key } : {}),
});
const attempt = (code: number | null) => ({
  at: new Date().toISOString(),
  code,
  reply: `${code}`,
  durationMs: 1,
});
const outcome = (state: 'sent' | 'abandoned', code: number, n = [0]): Outcome => ({
  state,
  attempt: attempt(code),
  configRevision: 'r1',
  recipients: n.map((i) => ({
    n: i,
    state: state === 'sent' ? 'sent' : 'abandoned',
    code,
    reply: `${code}`,
  })),
});

describe('QueueStore', () => {
  it('commits many enqueues in one group commit', async () => {
    const { store } = open();
    const before = store.committer.commits;
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.enqueue(msg(i))));
    assert.equal(store.committer.commits - before, 1);
    assert.equal(store.counts().queued, 50);
    store.close();
  });

  it('claims due messages once, records an attempt at claim, reads the payload apart, frees it when done', async () => {
    const { store } = open();
    const { id } = await store.enqueue(msg(1, undefined, ['a@example.org', 'b@example.org']));
    const [m] = await store.claim(10);
    assert.equal(m?.id, id);
    assert.equal(m.attempts, 1, 'the attempt is counted when claimed');
    assert.deepEqual(
      m.pending.map((r) => r.address),
      ['a@example.org', 'b@example.org'],
    );
    assert.deepEqual(await store.claim(10), [], 'a claimed message is not claimed again');
    assert.equal(m.payload?.toString(), '{"n":1}', 'a payload of one part comes with the claim');
    assert.equal(store.payload(m.seq, m.size)?.toString(), '{"n":1}');
    await store.finish(m.seq, {
      state: 'deferred',
      attempt: attempt(451),
      configRevision: 'r1',
      nextAttemptAt: Date.now() + 60_000,
      recipients: [
        { n: 0, state: 'sent', code: 250, reply: '250 ok' },
        { n: 1, state: 'pending', code: 451, reply: '451 greylisted' },
      ],
    });
    assert.deepEqual(await store.claim(10), [], 'not due yet');
    const none = await store.claimDue(10, Number.POSITIVE_INFINITY, () => 0, true);
    assert.deepEqual(none.messages, []);
    assert.ok(
      none.nextDueAt !== undefined && none.nextDueAt > Date.now() + 50_000,
      'a claim short of its limit says when the deferred message is due',
    );
    const v = store.get(id)!;
    assert.equal(v.state, 'deferred');
    assert.deepEqual(
      v.recipientStates.map((r) => [r.address, r.state, r.code]),
      [
        ['a@example.org', 'sent', 250],
        ['b@example.org', 'pending', 451],
      ],
    );
    store.db.prepare('UPDATE messages SET next_attempt_at = 0').run();
    const [again] = await store.claim(10);
    assert.deepEqual(
      again!.pending.map((r) => r.address),
      ['b@example.org'],
      'only the pending recipient is sent again',
    );
    assert.equal(again!.delivered, 1);
    await store.finish(again!.seq, outcome('sent', 250, [1]));
    assert.deepEqual(
      store.get(id)!.attempts.map((a) => a.code),
      [451, 250],
    );
    assert.equal(store.payload(m.seq, m.size), undefined, 'the payload is freed once sent');
    assert.equal((await store.claimDue(10, Number.POSITIVE_INFINITY, () => 0, true)).nextDueAt, undefined);
    store.close();
  });

  it('keeps a recipient pending until an outcome gives it a row, in the order of the envelope', async () => {
    const { store } = open();
    const { id } = await store.enqueue(
      msg(1, undefined, ['a@example.org', 'b@example.org', 'c@example.org']),
    );
    const states = () => store.get(id)!.recipientStates.map((r) => [r.address, r.state, r.code ?? null]);
    assert.deepEqual(states(), [
      ['a@example.org', 'pending', null],
      ['b@example.org', 'pending', null],
      ['c@example.org', 'pending', null],
    ]);
    const deferred = { ...outcome('sent', 250), state: 'deferred' as const, nextAttemptAt: 0 };
    // The connection failed: no recipient changed, every one is sent to again.
    await store.finish((await store.claim(1))[0]!.seq, { ...deferred, recipients: [] });
    const [second] = await store.claim(1);
    assert.deepEqual(
      second!.pending.map((r) => [r.n, r.address]),
      [
        [0, 'a@example.org'],
        [1, 'b@example.org'],
        [2, 'c@example.org'],
      ],
    );
    await store.finish(second!.seq, {
      ...deferred,
      recipients: [{ n: 1, state: 'sent', code: 250, reply: '250 ok' }],
    });
    const [third] = await store.claim(1);
    assert.deepEqual(
      third!.pending.map((r) => r.address),
      ['a@example.org', 'c@example.org'],
    );
    assert.equal(third!.delivered, 1);
    assert.deepEqual(states(), [
      ['a@example.org', 'pending', null],
      ['b@example.org', 'sent', 250],
      ['c@example.org', 'pending', null],
    ]);
    store.close();
  });

  it('keeps no recipient rows for a message that ends for all at once, and shows them with its reply', async () => {
    const { store } = open();
    const rows = () => (store.db.prepare('SELECT count(*) AS n FROM recipients').get() as { n: number }).n;
    const two = ['a@example.org', 'b@example.org'];
    const { id } = await store.enqueue(msg(1, undefined, two));
    const later = { n: 0, state: 'pending' as const, code: 451, reply: '451 later' };
    await store.finish((await store.claim(1))[0]!.seq, {
      ...outcome('sent', 451),
      state: 'deferred',
      nextAttemptAt: 0,
      recipients: [later, { ...later, n: 1 }],
    });
    assert.equal(rows(), 2);
    await store.finish((await store.claim(1))[0]!.seq, outcome('sent', 250, [0, 1]));
    assert.equal(rows(), 0, 'the rows of the deferral went with the outcome that covers them');
    const attemptRows = store.db.prepare('SELECT count(*) AS n FROM attempts').get() as { n: number };
    assert.equal(attemptRows.n, 1, 'the attempt that finished it is kept in its row');
    assert.deepEqual(
      store.get(id)!.attempts.map((a) => a.code),
      [451, 250],
    );
    const view = (v: string) =>
      store.get(v)!.recipientStates.map((r) => [r.address, r.state, r.code, r.reply]);
    assert.deepEqual(view(id), [
      ['a@example.org', 'sent', 250, '250'],
      ['b@example.org', 'sent', 250, '250'],
    ]);
    const refused = await store.enqueue(msg(2, undefined, two));
    await store.finish((await store.claim(1))[0]!.seq, outcome('abandoned', 550, [0, 1]));
    assert.equal(rows(), 0);
    assert.deepEqual(view(refused.id), [
      ['a@example.org', 'abandoned', 550, '550'],
      ['b@example.org', 'abandoned', 550, '550'],
    ]);
    store.close();
  });

  it('stores a large payload in parts and reads it back whole', async () => {
    const { store } = open();
    const payload = Buffer.from(Array.from({ length: 700_000 }, (_, i) => i % 251));
    await store.enqueue({ ...msg(1), payload });
    const [m] = await store.claim(1);
    assert.equal((store.db.prepare('SELECT count(*) AS n FROM payloads').get() as { n: number }).n, 3);
    assert.equal(m!.payload, undefined, 'a payload of several parts is read as it is sent');
    assert.ok(store.payload(m!.seq, m!.size)?.equals(payload));
    store.close();
  });

  it('never rewrites the payload on a state change', async () => {
    const { store } = open();
    await store.enqueue(msg(1));
    const before = store.db.prepare('SELECT rowid, data FROM payloads').get();
    const [m] = await store.claim(1);
    await store.finish(m!.seq, {
      ...outcome('sent', 250),
      state: 'deferred',
      nextAttemptAt: 0,
      recipients: [],
    });
    assert.deepEqual(store.db.prepare('SELECT rowid, data FROM payloads').get(), before);
    store.close();
  });

  it('counts a crash against each message in sending when reopened, and abandons one at maxCrashes', async () => {
    const { dir, store } = open();
    const { id } = await store.enqueue(msg(1));
    for (let crash = 1; crash <= 3; crash++) {
      const s = crash === 1 ? store : new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
      await s.claim(10);
      // A crash: the process is gone without closing (close() would requeue without counting).
      s.committer.flush();
      const reopened = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
      assert.equal(reopened.recovered, 1);
      const v = reopened.get(id)!;
      assert.deepEqual(
        v.attempts.map((a) => [a.code, a.reply]),
        Array.from({ length: crash }, () => [null, INTERRUPTED]),
        'every attempt that ended with the process is in the log, once',
      );
      if (crash < 3) {
        assert.equal(v.state, 'queued');
        assert.equal(reopened.poisoned, 0);
      } else {
        assert.equal(v.state, 'abandoned');
        assert.equal(reopened.poisoned, 1);
        assert.match(v.reason ?? '', /3 attempts ended with the sidecar stopping/);
        assert.equal(v.recipientStates[0]!.state, 'abandoned');
        assert.match(v.attempts.at(-1)!.reply, /stopped during this attempt/);
      }
      reopened.close();
    }
  });

  it('returns a row stuck in sending to the queue unless a send holds it', async () => {
    const { store } = open();
    await store.enqueue(msg(1));
    await store.enqueue(msg(2));
    const [a, b] = await store.claim(2);
    const later = Date.now() + 1000;
    assert.equal(await store.sweep(later, new Set([a!.seq]), later), 1);
    assert.deepEqual(store.counts(), { queued: 1, sending: 1, sent: 0, deferred: 0, abandoned: 0 });
    // The send that outlived the sweep reports late: its outcome is stale and records nothing.
    await store.finish(b!.seq, outcome('sent', 250));
    assert.equal(store.get(b!.id)!.state, 'queued');
    assert.equal(store.get(b!.id)!.attempts.length, 1);
    const [again] = await store.claim(5, undefined, undefined, true, later);
    assert.equal(again?.seq, b!.seq);
    assert.deepEqual(
      store.get(b!.id)!.attempts.map((a) => a.reply),
      ['no outcome was recorded within the send timeout'],
    );
    store.close();
  });

  it('marks interrupted an attempt row an earlier version wrote at claim (state started), once', async () => {
    const { dir, store } = open();
    const { id } = await store.enqueue(msg(1));
    const [m] = await store.claim(1);
    store.db
      .prepare(
        "INSERT INTO attempts (message_seq, n, at, code, reply, duration_ms, state) VALUES (?, 1, 0, NULL, '', 0, 'started')",
      )
      .run(m!.seq);
    store.committer.flush();
    const reopened = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
    assert.deepEqual(
      reopened.get(id)!.attempts.map((a) => [a.at, a.reply]),
      [[new Date(0).toISOString(), INTERRUPTED]],
    );
    reopened.close();
  });

  it('keeps one message per idempotency key, and refuses the key for another body', async () => {
    const { store } = open();
    const [a, b] = await Promise.all([store.enqueue(msg(1, 'k')), store.enqueue(msg(1, 'k'))]);
    assert.equal(a.id, b.id);
    assert.deepEqual([a.duplicate, b.duplicate], [false, true]);
    await assert.rejects(store.enqueue(msg(2, 'k')), IdempotencyConflictError);
    assert.equal(store.counts().queued, 1);
    store.close();
  });

  it('purges finished messages past retention only', async () => {
    const { store } = open();
    const t = Date.now();
    await store.enqueue(msg(1), t - 20_000);
    await store.enqueue(msg(2), t - 20_000);
    await store.enqueue(msg(3), t - 20_000);
    const [m, recent] = await store.claim(2);
    await store.finish(m!.seq, outcome('abandoned', 550), t - 10_000);
    await store.finish(recent!.seq, outcome('sent', 250), t);
    // One finished since, created later: the purge stops at it and deletes what came before.
    await store.enqueue(msg(4), t);
    assert.equal(await store.purge(t - 5_000), 1);
    assert.deepEqual(store.counts(), { queued: 2, sending: 0, sent: 1, deferred: 0, abandoned: 0 });
    assert.equal(store.get(m!.id), undefined);
    assert.equal(await store.purge(t + 1), 1, 'and a later run the rest');
    store.close();
  });

  it('keeps its state counts equal to the rows, through every operation and a queue written before them', async () => {
    const { dir, store } = open();
    const scan = (db: DatabaseSync) => {
      const out: Record<string, number> = { queued: 0, sending: 0, sent: 0, deferred: 0, abandoned: 0 };
      for (const r of db.prepare('SELECT state, count(*) AS n FROM messages GROUP BY state').all())
        out[r.state as string] = r.n as number;
      return out;
    };
    await Promise.all([1, 2, 3, 4, 5].map((n) => store.enqueue(msg(n), Date.now() - 20_000)));
    await store.enqueue(msg(1, 'k'));
    await store.enqueue(msg(1, 'k'));
    // Four in sending: three get an outcome, the sweeper returns the fourth to the queue.
    const [a, b, c] = await store.claim(4);
    await store.finish(a!.seq, outcome('sent', 250));
    await store.finish(b!.seq, outcome('abandoned', 550), Date.now() - 10_000);
    await store.finish(c!.seq, {
      ...outcome('sent', 250),
      state: 'deferred',
      nextAttemptAt: 0,
      recipients: [],
    });
    const later = Date.now() + 1000;
    await store.sweep(later, new Set([c!.seq]), later);
    await store.purge(Date.now() - 5_000);
    assert.deepEqual(store.counts(), { queued: 3, sending: 0, sent: 1, deferred: 1, abandoned: 0 });
    assert.deepEqual(store.counts(), scan(store.db));
    // A crash with one in sending: recovery changes its state through SQL of its own.
    await store.claim(1);
    store.committer.flush();
    const old = new DatabaseSync(join(dir, 'queue.db'));
    // A queue written before the counts existed: they are built from its rows when it opens.
    old.exec('DROP TABLE state_counts');
    old.close();
    const reopened = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
    assert.deepEqual(reopened.counts(), scan(reopened.db));
    assert.equal(reopened.counts().sending, 0);
    reopened.close();
  });

  it('gives ids that carry their row, looked up without an index of ids', async () => {
    const { store } = open();
    const ids = [];
    for (let n = 0; n < 3; n++) ids.push((await store.enqueue(msg(n))).id);
    for (const id of ids) assert.equal(store.get(id)?.id, id);
    // Same seq, another id (a message purged and its seq given again): not that message.
    assert.equal(store.get(`${ids[0]!.slice(0, 9)}ffff${ids[0]!.slice(13)}`), undefined);
    const page = store.list({ limit: 2 });
    assert.deepEqual(
      store.list({ limit: 2, cursor: page.nextCursor! }).messages.map((m) => m.id),
      [ids[0]],
    );
    store.close();
  });

  it('refuses new mail at the quota and takes it again once space is freed', async () => {
    const { store } = open(tmp(), { maxQueueBytes: 2 * 1024 * 1024 });
    const big = (n: number): NewMessage => ({ ...msg(n), payload: Buffer.alloc(400 * 1024, 97) });
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 20 && !refusal; i++) {
      try {
        await store.enqueue(big(i));
        accepted++;
      } catch (err) {
        refusal = err;
      }
    }
    assert.ok(refusal instanceof QueueRefusedError && refusal.reason === 'QueueFull', String(refusal));
    assert.ok(accepted >= 2 && accepted < 6, `${accepted} accepted under a 2 MiB quota`);
    for (const m of await store.claim(20)) await store.finish(m.seq, outcome('sent', 250));
    store.disk.tick();
    await store.enqueue(big(99));
    store.close();
  });

  it('creates its files 0600', async () => {
    const { dir, store } = open();
    await store.enqueue(msg(1));
    for (const f of readdirSync(dir).filter((x) => x.startsWith('queue.db')))
      assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    store.close();
  });

  it('moves a corrupt queue file aside and starts a fresh queue', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'queue.db'), Buffer.alloc(8192, 0x5a));
    writeFileSync(join(dir, 'queue.db-wal'), 'junk');
    const { store } = open(dir);
    assert.ok(store.movedAside, 'moved aside');
    assert.match(store.movedAside.problem, /not a database|malformed|corrupt/i);
    assert.ok(existsSync(store.movedAside.path));
    assert.ok(existsSync(`${store.movedAside.path}-wal`));
    assert.equal(store.counts().queued, 0);
    store.close();
  });

  it('migrates a queue of the first layout, keeping waiting mail', async () => {
    const dir = tmp();
    const old = new DatabaseSync(join(dir, 'queue.db'));
    old.exec(`CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, idempotency_key TEXT UNIQUE,
      door TEXT NOT NULL, kind TEXT NOT NULL, payload BLOB, recipients TEXT NOT NULL, recipient_index TEXT NOT NULL,
      subject TEXT NOT NULL, size INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, config_revision TEXT, reason TEXT);
      CREATE TABLE attempts (message_seq INTEGER NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL, code INTEGER,
      reply TEXT NOT NULL, duration_ms INTEGER NOT NULL, PRIMARY KEY (message_seq, n)) WITHOUT ROWID;
      INSERT INTO messages VALUES (1, 'a', NULL, 'http', 'json', X'7B7D', '["x@example.org","y@example.org"]', ',x,', 's', 2, 'deferred', 1, 0, 0, 0, NULL, NULL);`);
    old.close();
    const { store } = open(dir);
    const [m] = await store.claim(5);
    assert.equal(m?.id, 'a');
    assert.equal(m.attempts, 2);
    assert.equal(m.pending.length, 2);
    assert.equal(m.payload?.toString(), '{}');
    assert.equal(store.payload(m.seq, m.size)?.toString(), '{}');
    store.close();
  });
});
