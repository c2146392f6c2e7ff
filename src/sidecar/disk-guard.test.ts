import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { DiskGuard } from './disk-guard.ts';

/** A WAL database in a temporary directory with a guard at `quota` bytes above what it holds now. */
function guarded(t: { after: (fn: () => void) => void }, headroom: number) {
  const dir = mkdtempSync(join(tmpdir(), 'mailroom-guard-'));
  const db = new DatabaseSync(join(dir, 'queue.db'));
  db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (b BLOB)');
  const probe = new DiskGuard(db, dir, { maxQueueBytes: Number.MAX_SAFE_INTEGER, spareBytes: 4096 });
  const guard = new DiskGuard(db, dir, { maxQueueBytes: probe.used() + headroom, spareBytes: 4096 });
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const insert = (bytes: number) => {
    const done = guard.hold(bytes);
    db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(bytes));
    done();
    guard.changed();
  };
  return { guard, insert };
}

describe('DiskGuard', () => {
  it('refuses only on a fresh measurement: an estimate that would refuse is measured first', (t) => {
    const { guard, insert } = guarded(t, 280 * 1024);
    assert.equal(guard.check(0), undefined);
    // Three small messages: the estimate (twice each payload and the pages of its rows) is well
    // over what they wrote, and near the quota.
    for (let i = 0; i < 3; i++) insert(1000);
    assert.ok(3 * (2 * 1000 + 64 * 1024) + 100 * 1024 > 280 * 1024, 'the estimate alone would refuse');
    assert.equal(guard.check(100 * 1024), undefined, 'measured: far from the quota');
  });

  it('refuses a message that does not fit, however recent the last measurement', (t) => {
    const { guard, insert } = guarded(t, 400 * 1024);
    assert.equal(guard.check(1000), undefined);
    insert(300 * 1024);
    assert.equal(guard.check(200 * 1024)?.reason, 'QueueFull');
    assert.ok(guard.used() >= 300 * 1024, 'the WAL holds the payload');
  });
});
