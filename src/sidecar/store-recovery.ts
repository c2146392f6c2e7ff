/**
 * Recovery of the queue from what a crash or a damaged disk leaves behind:
 *
 * - Rows left in `sending`: at open, by a process that stopped mid-delivery (each such attempt
 *   counts as a crash of the message, and a message at `maxCrashes` is abandoned as poison); while
 *   running, by an outcome that could not be recorded (the sweeper returns them to the queue).
 * - A queue file that turns corrupt while the process runs: SQLite says so from any statement
 *   ({@link isCorrupt}), or a probe on a connection of its own finds it ({@link probeQueueFile}),
 *   since the process's own connection may keep reading good pages from its cache while the file
 *   under it is damaged. The store then moves the file aside and starts a fresh queue.
 *
 * @module
 */
import { DatabaseSync } from 'node:sqlite';

/** The reply recorded for an attempt whose outcome was never known. */
export const INTERRUPTED = 'no outcome: the sidecar stopped during this attempt';

/**
 * Inside a transaction: records as interrupted, with `reply`, the attempt under way of each
 * message in `sending` (of `seq` only, when given), before the message leaves that state. A claim
 * writes no attempt row (its outcome does); a file written by an earlier version may hold one in
 * state `started`, which is marked instead.
 */
export function recordInterrupted(db: DatabaseSync, reply: string, seq?: number): void {
  db.prepare(
    `INSERT INTO attempts (message_seq, n, at, code, reply, duration_ms, state)
      SELECT seq, attempts, updated_at, NULL, ?, 0, 'interrupted' FROM messages
      WHERE state = 'sending' AND attempts > 0 ${seq === undefined ? '' : 'AND seq = ?'}
    ON CONFLICT (message_seq, n) DO UPDATE SET state = 'interrupted', reply = excluded.reply
      WHERE state = 'started'`,
  ).run(...(seq === undefined ? [reply] : [reply, seq]));
}

/**
 * Returns interrupted deliveries to the queue (their outcome is unknown: at-least-once), counting
 * the crash against each; a message at `maxCrashes` is abandoned with that reason. Runs its own
 * transaction (the store calls it before the group committer takes over).
 */
export function recoverInterrupted(
  db: DatabaseSync,
  maxCrashes: number,
): { recovered: number; poisoned: number } {
  const now = Date.now();
  db.exec('BEGIN IMMEDIATE');
  try {
    // Attempt rows left `started` by an earlier version, whatever their message's state now.
    db.prepare("UPDATE attempts SET state = 'interrupted', reply = ? WHERE state = 'started'").run(
      INTERRUPTED,
    );
    recordInterrupted(db, INTERRUPTED);
    const rows = db
      .prepare(
        "UPDATE messages SET crashes = crashes + 1, state = 'queued', updated_at = ? WHERE state = 'sending' RETURNING seq, crashes",
      )
      .all(now) as Array<{ seq: number; crashes: number }>;
    const poison = rows.filter((x) => x.crashes >= maxCrashes);
    for (const row of poison) {
      const reason = `abandoned: ${row.crashes} attempts ended with the sidecar stopping (a message that crashes it?)`;
      db.prepare("UPDATE messages SET state = 'abandoned', reason = ? WHERE seq = ?").run(reason, row.seq);
      // Recipients without a row (no outcome yet) get one; those with a final state keep it.
      db.prepare(
        `INSERT INTO recipients (message_seq, n, address, state, reply, updated_at)
          SELECT m.seq, j.key, j.value, 'abandoned', ?1, ?2 FROM messages m, json_each(m.recipients) j WHERE m.seq = ?3
        ON CONFLICT (message_seq, n) DO UPDATE SET state = 'abandoned', reply = ?1, updated_at = ?2
          WHERE state = 'pending'`,
      ).run(reason, now, row.seq);
      db.prepare('DELETE FROM payloads WHERE seq = ?').run(row.seq);
    }
    db.exec('COMMIT');
    return { recovered: rows.length, poisoned: poison.length };
  } catch (err) {
    // SQLite rolls back by itself on a full disk; a second ROLLBACK would hide why.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/** Inside a transaction: returns stuck `sending` rows that no live send holds to the queue. */
export function sweepStuck(db: DatabaseSync, before: number, live: ReadonlySet<number>, now: number): number {
  const rows = db
    .prepare("SELECT seq FROM messages WHERE state = 'sending' AND updated_at < ?")
    .all(before) as Array<{ seq: number }>;
  let n = 0;
  for (const r of rows.filter((x) => !live.has(x.seq))) {
    recordInterrupted(db, 'no outcome was recorded within the send timeout', r.seq);
    db.prepare("UPDATE messages SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE seq = ?").run(
      now,
      now,
      r.seq,
    );
    n++;
  }
  return n;
}

/** SQLite's result codes for "the file is damaged" (SQLITE_CORRUPT) and "not a database" (SQLITE_NOTADB). */
const CORRUPT_CODES = new Set([11, 26]);

/**
 * Whether an error (node:sqlite's own, or one that wraps it as its `cause`, like a CommitError)
 * says the queue file is corrupt or not a database.
 */
export function isCorrupt(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { errcode, sqliteCode } = e as { errcode?: unknown; sqliteCode?: unknown };
    const code = typeof errcode === 'number' ? errcode : sqliteCode;
    if (typeof code === 'number' && CORRUPT_CODES.has(code & 0xff)) return true;
  }
  return false;
}

/**
 * Reads the queue file through a fresh read-only connection (no page cache to hide damage): its
 * header, its schema and the pages to the newest message. Returns SQLite's complaint when the file
 * is corrupt or not a database; undefined when it reads, or when it cannot be read for another
 * reason now (busy, gone): those are not signs of a damaged file.
 */
export function probeQueueFile(path: string): string | undefined {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    db.prepare('SELECT max(seq) FROM messages').get();
    return undefined;
  } catch (err) {
    return isCorrupt(err) ? (err as Error).message : undefined;
  } finally {
    try {
      db?.close();
    } catch {
      // Closing a connection that read nothing cannot lose anything.
    }
  }
}
