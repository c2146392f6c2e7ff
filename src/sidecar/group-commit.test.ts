import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { CommitError, GroupCommitter } from './group-commit.ts';

describe('GroupCommitter', () => {
  it('recovers from a batch whose transaction SQLite rolled back: that batch fails, the next commits', async () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (v INTEGER)');
    const gc = new GroupCommitter(db, { windowMs: 0 });
    // ROLLBACK inside an op ends the transaction, as SQLITE_FULL does: the rest of the batch must not autocommit.
    const batch = [
      gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run()),
      gc.write((d) => d.exec('ROLLBACK')),
      gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run()),
    ];
    const results = await Promise.allSettled(batch);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof CommitError));
    assert.equal(gc.failures, 1);
    assert.equal(
      (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n,
      0,
      'nothing of it stored',
    );
    await gc.write((d) => d.prepare('INSERT INTO t VALUES (3)').run());
    assert.deepEqual(
      db
        .prepare('SELECT v FROM t')
        .all()
        .map((r) => r.v),
      [3],
    );
  });

  it('keeps the other writes of a batch when one statement fails on its own', async () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (v INTEGER UNIQUE)');
    const gc = new GroupCommitter(db, { windowMs: 0 });
    const r = await Promise.allSettled([
      gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run()),
      gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run()),
    ]);
    assert.deepEqual(
      r.map((x) => x.status),
      ['fulfilled', 'rejected'],
    );
    assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 1);
  });

  describe('in WAL mode', () => {
    /** A WAL database in a temporary directory, and an fdatasync the test releases by hand. */
    function walDb(t: { after: (fn: () => void) => void }, windowMs = 0, checkpointBytes?: number) {
      const dir = mkdtempSync(join(tmpdir(), 'mailroom-gc-'));
      const db = new DatabaseSync(join(dir, 'q.db'));
      db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)');
      const held: Array<{ fd: number; done: (err: NodeJS.ErrnoException | null) => void }> = [];
      const gc = new GroupCommitter(db, {
        windowMs,
        walPath: join(dir, 'q.db-wal'),
        sync: (fd, done) => held.push({ fd, done }),
        ...(checkpointBytes ? { checkpointBytes } : {}),
      });
      t.after(() => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return { db, gc, held, dir };
    }
    const settledYet = async (p: Promise<unknown>) => {
      let settled = false;
      void p.then(
        () => (settled = true),
        () => (settled = true),
      );
      await new Promise((r) => setImmediate(r));
      return settled;
    };

    it('settles a durable write only after the WAL is synced, a state change at its commit', async (t) => {
      const { db, gc, held } = walDb(t);
      assert.equal((db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous, 1);
      const durable = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run());
      const change = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run(), false);
      await change;
      assert.equal(held.length, 1, 'one fdatasync of the WAL for the batch');
      assert.equal(await settledYet(durable), false, 'committed but not yet synced: not acknowledged');
      held[0]!.done(null);
      await durable;
      assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 2);
    });

    it('gives a write that commits while an fsync runs its own fsync at once; the one that ends first settles both', async (t) => {
      const { db, gc, held } = walDb(t);
      const first = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run());
      await new Promise((r) => setImmediate(r));
      assert.equal(held.length, 1);
      const second = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run());
      await new Promise((r) => setImmediate(r));
      assert.equal(held.length, 2, 'the second commit did not wait for the first fsync to end');
      assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 2);
      // The later fsync started after both commits: it makes both durable, whatever the first does.
      held[1]!.done(null);
      await Promise.all([first, second]);
      held[0]!.done(null);
      // The first fsync's own writers are settled already: ending later changes nothing.
      await new Promise((r) => setImmediate(r));
      assert.equal(held.length, 2, 'nothing left to sync');
    });

    it('with one sync slot, a write committing during an fsync waits for the next one', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'mailroom-gc-'));
      const db = new DatabaseSync(join(dir, 'q.db'));
      t.after(() => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      });
      db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)');
      const held: Array<(err: NodeJS.ErrnoException | null) => void> = [];
      const gc = new GroupCommitter(db, {
        windowMs: 0,
        walPath: join(dir, 'q.db-wal'),
        maxSyncs: 1,
        sync: (_fd, done) => held.push(done),
      });
      const first = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run());
      await new Promise((r) => setImmediate(r));
      const later = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run());
      await new Promise((r) => setImmediate(r));
      assert.equal(held.length, 1);
      held[0]!(null);
      await first;
      assert.equal(await settledYet(later), false, 'committed after the fsync under way began');
      assert.equal(held.length, 2);
      held[1]!(null);
      await later;
    });

    it('fails the durable writers whose sync failed with a CommitError; the next batch is acknowledged', async (t) => {
      const { gc, held } = walDb(t);
      const seen: CommitError[] = [];
      gc.onError = (e) => seen.push(e);
      const first = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run());
      await new Promise((r) => setImmediate(r));
      held[0]!.done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await assert.rejects(first, (e) => e instanceof CommitError && e.code === 'EIO');
      assert.equal(seen.length, 1);
      const second = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run());
      await new Promise((r) => setImmediate(r));
      held[1]!.done(null);
      await second;
    });

    it('commits a durable write at once while a sync slot is free, else when an fsync under way ends', async (t) => {
      const { db, gc, held } = walDb(t, 60_000);
      const count = () => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
      const change = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run(), false);
      await new Promise((r) => setImmediate(r));
      assert.equal(count(), 0, 'a state change waits for its window');
      const first = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run());
      await change;
      assert.equal(count(), 2, 'a durable write on an idle disk flushes on the next turn, with what waits');
      const second = gc.write((d) => d.prepare('INSERT INTO t VALUES (3)').run());
      await new Promise((r) => setImmediate(r));
      assert.equal(count(), 3, 'one fsync under way: the second slot takes the next write at once');
      const third = gc.write((d) => d.prepare('INSERT INTO t VALUES (4)').run());
      await new Promise((r) => setImmediate(r));
      assert.equal(count(), 3, 'both slots busy: the write gathers company');
      held[0]!.done(null);
      await first;
      await new Promise((r) => setImmediate(r));
      assert.equal(count(), 4, 'committed once an fsync under way ended');
      assert.equal(held.length, 3);
      held[1]!.done(null);
      held[2]!.done(null);
      await Promise.all([second, third]);
      gc.close();
    });

    it('commits state changes that work waits on (hurry) within the short window, not the state window', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'mailroom-gc-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const db = new DatabaseSync(join(dir, 'q.db'));
      db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)');
      const gc = new GroupCommitter(db, {
        windowMs: 1,
        stateWindowMs: 60_000,
        walPath: join(dir, 'q.db-wal'),
        sync: (_fd, done) => setImmediate(() => done(null)),
      });
      t.after(() => gc.close());
      const count = () => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
      const change = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run(), false);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(count(), 0, 'a state change waits for company in its window');
      const claim = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run(), false);
      gc.hurry();
      const within = (p: Promise<unknown>) =>
        Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
      assert.equal(await within(claim), true, 'committed without waiting for the state window');
      assert.equal(await within(change), true, 'the waiting state change rode in the same batch');
      assert.equal(count(), 2);
      assert.equal(gc.commits, 1);
    });

    it('checkpoints with every fsync off the event loop, writes paused only for the last small round', async (t) => {
      const { db, gc, held, dir } = walDb(t, 0, 64 * 1024);
      const count = () => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
      // Frames in the WAL: the WAL index header's mxFrame (https://sqlite.org/walformat.html).
      const frames = () => {
        const head = readFileSync(join(dir, 'q.db-shm')).subarray(16, 20);
        return endianness() === 'LE' ? head.readUInt32LE(0) : head.readUInt32BE(0);
      };
      const tick = () => new Promise((r) => setImmediate(r));
      db.exec('CREATE TABLE big (b BLOB)');
      const big = gc.write((d) => d.prepare('INSERT INTO big VALUES (?)').run(Buffer.alloc(100_000)));
      await tick();
      assert.equal(held.length, 2, "the commit's fsync, and the checkpoint's of the WAL");
      assert.equal(gc.checkpointing, true);
      held[0]!.done(null);
      await big;
      // First round: the WAL is pinned, writes go on.
      await gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run(), false);
      assert.equal(count(), 1);
      held[1]!.done(null); // the WAL is on disk: pages are copied, then the database file is synced
      assert.equal(held.length, 3);
      assert.notEqual(held[2]!.fd, held[1]!.fd, 'the database file');
      held[2]!.done(null);
      // Second round: writes wait while the frames written meanwhile are synced and copied.
      assert.equal(held.length, 4);
      const paused = gc.write((d) => d.prepare('INSERT INTO t VALUES (2)').run(), false);
      await tick();
      assert.equal(count(), 1, 'no write while the last round runs');
      held[3]!.done(null);
      assert.equal(held.length, 5);
      assert.ok(frames() > 20, 'the WAL stays until the database file is synced');
      held[4]!.done(null);
      await paused;
      assert.equal(count(), 2);
      assert.ok(frames() <= 2, 'the next write started the WAL over');
      assert.equal(gc.checkpointing, false);
      assert.equal(
        (db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint,
        4 * Math.floor((64 * 1024) / (4096 + 24)),
        "SQLite's own checkpoint (on the event loop) only as a backstop at 4× the threshold",
      );
    });

    it('syncs what is left when it closes', async (t) => {
      const { gc, held } = walDb(t);
      const w = gc.write((d) => d.prepare('INSERT INTO t VALUES (1)').run());
      gc.close();
      assert.equal(held.length, 0, 'closing syncs at once, not through the thread pool');
      await w;
    });
  });
});
