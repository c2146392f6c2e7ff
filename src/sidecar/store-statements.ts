/**
 * The SQL of the queue operations of `QueueStore` (store.ts), prepared once per database rather
 * than on each call: enqueue, claim and finish run for every message.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** The prepared statements of the queue operations, by name. */
export type QueueStatements = Record<string, StatementSync>;

/**
 * Prepares the statements of the queue operations on `db`. Called again on each database the
 * queue file opens (a late open, a fresh queue after a corrupt one): a statement belongs to one
 * connection.
 */
export function prepareStatements(db: DatabaseSync): QueueStatements {
  const p = (sql: string) => db.prepare(sql);
  return {
    // The seq is given: a streamed payload's parts are written under it before the row exists. The
    // state is `queued`, or `sending` with its first attempt counted when the worker takes the
    // message at intake (store-intake.ts).
    insert:
      p(`INSERT INTO messages (seq, id, idempotency_key, body_hash, door, kind, recipients, recipient_index,
        subject, size, state, attempts, next_attempt_at, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING seq`),
    insertPayload: p('INSERT INTO payloads (seq, part, data) VALUES (?, ?, ?)'),
    byKey: p('SELECT id, body_hash FROM messages WHERE idempotency_key = ?'),
    // INDEXED BY: without statistics SQLite picks messages_state (state = ?), reads every waiting
    // message and sorts them; with 3,000 queued that was 325 µs a claim against 53 (and 202 µs
    // against 6 for nextDue), and a queue grows to thousands whenever mail comes faster than it goes.
    due: p(`SELECT seq, size, kind FROM messages INDEXED BY messages_due
      WHERE state IN ('queued', 'deferred') AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?`),
    claim: p(`UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ?
      WHERE seq = ? RETURNING seq, id, kind, size, attempts, created_at, recipients`),
    // A recipient without a row has had no outcome yet: pending (store-schema.ts, recipients).
    recipients: p(`SELECT j.key AS n, j.value AS address, coalesce(r.state, 'pending') AS state
      FROM messages m, json_each(m.recipients) j
      LEFT JOIN recipients r ON r.message_seq = m.seq AND r.n = j.key WHERE m.seq = ? ORDER BY j.key`),
    payload: p('SELECT data FROM payloads WHERE seq = ? ORDER BY part'),
    payloadPart: p('SELECT data FROM payloads WHERE seq = ? AND part = ?'),
    // The row of an attempt that defers the message is written with its outcome: numbered and
    // timed by the claim (attempts, updated_at), and only while the message is still in `sending`
    // (else the outcome is stale).
    recordAttempt: p(`INSERT OR REPLACE INTO attempts (message_seq, n, at, code, reply, duration_ms, state)
      SELECT seq, attempts, updated_at, ?, ?, ?, 'done' FROM messages WHERE seq = ? AND state = 'sending'`),
    finish:
      p(`UPDATE messages SET state = ?, next_attempt_at = ?, updated_at = ?, config_revision = ?, reason = ?
      WHERE seq = ? AND state = 'sending' RETURNING json_array_length(recipients) AS recipients`),
    // The outcome that finishes the message, with its attempt (timed by the claim: updated_at
    // before this update) in the row (store-schema.ts, FINAL_ATTEMPT).
    finishFinal:
      p(`UPDATE messages SET state = ?1, next_attempt_at = ?2, updated_at = ?2, config_revision = ?3, reason = ?4,
        final_at = updated_at, final_code = ?5, final_reply = ?6, final_ms = ?7
      WHERE seq = ?8 AND state = 'sending' RETURNING json_array_length(recipients) AS recipients`),
    // The row is made by the recipient's first outcome, its address from the message's list (the
    // CAST: node:sqlite binds a number as REAL, which ->> takes for a key, not an array index).
    setRcpt: p(`INSERT INTO recipients (message_seq, n, address, state, code, reply, updated_at)
      SELECT seq, ?1, recipients ->> CAST(?1 AS INTEGER), ?2, ?3, ?4, ?5 FROM messages WHERE seq = ?6
      ON CONFLICT (message_seq, n) DO UPDATE SET
        state = excluded.state, code = excluded.code, reply = excluded.reply, updated_at = excluded.updated_at`),
    dropPayload: p('DELETE FROM payloads WHERE seq = ?'),
    dropRcpts: p('DELETE FROM recipients WHERE message_seq = ?'),
    dropOrphanPayload: p(
      'DELETE FROM payloads WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE seq = ?)',
    ),
    nextDue: p(
      "SELECT min(next_attempt_at) AS due FROM messages INDEXED BY messages_due WHERE state IN ('queued', 'deferred')",
    ),
    counts: p('SELECT state, n FROM state_counts'),
    // ORs, not IN: messages_state is partial, and SQLite matches its WHERE term by term.
    oldestWaiting: p(
      "SELECT min(created_at) AS at FROM messages WHERE state = 'queued' OR state = 'deferred' OR state = 'sending'",
    ),
  };
}
