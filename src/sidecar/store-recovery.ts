/**
 * Rows left in `sending`: at open, by a process that stopped mid-delivery (each such attempt counts
 * as a crash of the message, and a message at `maxCrashes` is abandoned as poison); while running,
 * by an outcome that could not be recorded (the sweeper returns them to the queue).
 *
 * @module
 */
import type { DatabaseSync } from 'node:sqlite';

/** The reply recorded for an attempt whose outcome was never known. */
export const INTERRUPTED = 'no outcome: the sidecar stopped during this attempt';

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
    db.prepare("UPDATE attempts SET state = 'interrupted', reply = ? WHERE state = 'started'").run(
      INTERRUPTED,
    );
    const rows = db
      .prepare(
        "UPDATE messages SET crashes = crashes + 1, state = 'queued', updated_at = ? WHERE state = 'sending' RETURNING seq, crashes",
      )
      .all(now) as Array<{ seq: number; crashes: number }>;
    const poison = rows.filter((x) => x.crashes >= maxCrashes);
    for (const row of poison) {
      const reason = `abandoned: ${row.crashes} attempts ended with the sidecar stopping (a message that crashes it?)`;
      db.prepare("UPDATE messages SET state = 'abandoned', reason = ? WHERE seq = ?").run(reason, row.seq);
      db.prepare(
        "UPDATE recipients SET state = 'abandoned', reply = ?, updated_at = ? WHERE message_seq = ? AND state = 'pending'",
      ).run(reason, now, row.seq);
      db.prepare('DELETE FROM payloads WHERE seq = ?').run(row.seq);
    }
    db.exec('COMMIT');
    return { recovered: rows.length, poisoned: poison.length };
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

/** Inside a transaction: returns stuck `sending` rows that no live send holds to the queue. */
export function sweepStuck(db: DatabaseSync, before: number, live: ReadonlySet<number>, now: number): number {
  const rows = db
    .prepare("SELECT seq, attempts FROM messages WHERE state = 'sending' AND updated_at < ?")
    .all(before) as Array<{ seq: number; attempts: number }>;
  let n = 0;
  for (const r of rows.filter((x) => !live.has(x.seq))) {
    db.prepare("UPDATE messages SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE seq = ?").run(
      now,
      now,
      r.seq,
    );
    db.prepare(
      "UPDATE attempts SET state = 'interrupted', reply = ? WHERE message_seq = ? AND n = ? AND state = 'started'",
    ).run('no outcome was recorded within the send timeout', r.seq, r.attempts);
    n++;
  }
  return n;
}
