import assert from 'node:assert/strict';
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
});
