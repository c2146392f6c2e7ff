/**
 * Salvage of a queue file moved aside as corrupt: every message that can still be read from it is
 * copied into the fresh queue, so damage to one page costs the messages on that page, not the
 * whole queue. Postfix does the same per message: a damaged queue file goes to its `corrupt`
 * queue, the others are still delivered.
 *
 * What is copied, per message, in a transaction of its own on the fresh queue:
 * - an unfinished message (`queued`, `deferred`, `sending`) with its recipients and its payload,
 *   when the payload's parts read back whole (their lengths add up to the recorded size). One left
 *   in `sending` returns to the queue, its attempt marked interrupted (the send under way when the
 *   file was given up may still land: a duplicate, as after a crash). A message whose payload is
 *   short or unreadable is abandoned with that reason, so its recipients read why in the delivery
 *   log instead of never hearing of it.
 * - a finished one (`sent`, `abandoned`): its row, recipients and attempts, the delivery log.
 * Seq numbers, ids and idempotency keys are kept: an app that looks its message up, or retries a
 * POST with the same key, finds it.
 *
 * SQLite checks pages, not bytes inside a cell: a payload read back whole is not proven intact.
 * A JSON payload that no longer parses fails its attempts and is abandoned with the error; bytes
 * damaged inside a body go out as they were read.
 *
 * The table is read without its indexes (an index page is as likely to be damaged as any other),
 * in seq order; where a page cannot be read, the scan resumes past it.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { isCorrupt } from './store-recovery.ts';

/** What a salvage found and copied. */
export interface Salvage {
  /** Unfinished messages copied whole into the fresh queue (they will be delivered). */
  requeued: number;
  /** Unfinished messages whose payload could not be read back whole: abandoned with a reason. */
  damaged: number;
  /** Finished messages whose delivery log was copied. */
  history: number;
  /** Whether some rows could not be read at all (how many messages they held is unknown). */
  unreadable: boolean;
  /** SQLite's complaint about the first rows it could not read. */
  problem?: string;
}

const COLUMNS = [
  'seq',
  'id',
  'idempotency_key',
  'body_hash',
  'door',
  'kind',
  'recipients',
  'recipient_index',
  'subject',
  'size',
  'state',
  'attempts',
  'crashes',
  'next_attempt_at',
  'created_at',
  'updated_at',
  'config_revision',
  'reason',
  'final_at',
  'final_code',
  'final_reply',
  'final_ms',
] as const;
type MessageRow = Record<(typeof COLUMNS)[number], SQLInputValue>;
interface RecipientRow {
  n: number;
  address: string;
  state: string;
  code: number | null;
  reply: string | null;
  updated_at: number | null;
}
interface AttemptRow {
  n: number;
  at: number;
  code: number | null;
  reply: string;
  duration_ms: number;
  state: string;
}

const UNFINISHED = new Set(['queued', 'deferred', 'sending']);
/** How far past an unreadable seq the scan looks for the next readable page, doubling each time. */
const MAX_SKIPS = 40;
/** Rows read per query. */
const BATCH = 256;

/**
 * Copies what can be read from the queue file at `asidePath` (moved aside with its `-wal` and
 * `-shm`) into `fresh`, the new queue, before anything else is written to it.
 */
export function salvageQueue(fresh: DatabaseSync, asidePath: string, now = Date.now()): Salvage {
  const out: Salvage = { requeued: 0, damaged: 0, history: 0, unreadable: false };
  let old: DatabaseSync;
  try {
    // Read-only, so the file stays as it was found for whoever investigates it; read-write only
    // when SQLite needs to rebuild a missing -shm to read the WAL.
    old = openEither(asidePath);
  } catch (err) {
    return { ...out, unreadable: true, problem: (err as Error).message };
  }
  try {
    // A file of an earlier version (found corrupt before it was migrated) lacks the newer columns.
    const has = new Set(
      old
        .prepare("SELECT name FROM pragma_table_info('messages')")
        .all()
        .map((c) => c.name),
    );
    const columns = COLUMNS.map((c) => (has.has(c) ? c : `NULL AS ${c}`));
    const read = old.prepare(
      `SELECT ${columns.join(', ')} FROM messages NOT INDEXED WHERE seq >= ? ORDER BY seq LIMIT ${BATCH}`,
    );
    const copy = copier(fresh, old, now, asidePath);
    let from = 0;
    for (let skips = 0; skips <= MAX_SKIPS; ) {
      const rows: MessageRow[] = [];
      let failed: Error | undefined;
      try {
        // Row by row: the rows before a damaged page are kept.
        for (const r of read.iterate(from)) rows.push(r as MessageRow);
      } catch (err) {
        failed = err as Error;
      }
      for (const row of rows) copy(row, out);
      if (rows.length > 0) {
        from = Number(rows.at(-1)!.seq) + 1;
        skips = 0;
      }
      if (!failed) {
        if (rows.length < BATCH) break;
        continue;
      }
      out.unreadable = true;
      out.problem ??= failed.message;
      from += 2 ** skips++;
    }
  } finally {
    try {
      old.close();
    } catch {
      // Nothing was written through this connection.
    }
  }
  return out;
}

function openEither(path: string): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get();
    return db;
  } catch (err) {
    db?.close();
    if (isCorrupt(err)) throw err;
    return new DatabaseSync(path);
  }
}

/** Copies one message row (and what belongs to it) into `fresh`, counting it in `out`. */
function copier(fresh: DatabaseSync, old: DatabaseSync, now: number, asidePath: string) {
  const q = (sql: string) => old.prepare(sql);
  const payload = q('SELECT part, data FROM payloads WHERE seq = ? ORDER BY part');
  const recipients = q(
    'SELECT n, address, state, code, reply, updated_at FROM recipients WHERE message_seq = ?',
  );
  const attempts = q(
    'SELECT n, at, code, reply, duration_ms, state FROM attempts WHERE message_seq = ? ORDER BY n',
  );
  const p = (sql: string) => fresh.prepare(sql);
  const insertMessage = p(
    `INSERT OR IGNORE INTO messages (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
  );
  const insertPayload = p('INSERT INTO payloads (seq, part, data) VALUES (?, ?, ?)');
  const insertRcpt = p(
    'INSERT INTO recipients (message_seq, n, address, state, code, reply, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const insertAttempt = p(
    'INSERT INTO attempts (message_seq, n, at, code, reply, duration_ms, state) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const tryAll = <T>(f: () => T[]): T[] | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };

  return (row: MessageRow, out: Salvage): void => {
    const seq = Number(row.seq);
    const unfinished = UNFINISHED.has(String(row.state));
    const rcpts = tryAll(() => recipients.all(seq) as unknown as RecipientRow[]);
    const tries = tryAll(() => attempts.all(seq) as unknown as AttemptRow[]) ?? [];
    // The attempt under way has no row of its own until its outcome (store-deliveries.ts).
    if (row.state === 'sending' && !tries.some((a) => a.n === Number(row.attempts)))
      tries.push({
        n: Number(row.attempts),
        at: Number(row.updated_at),
        code: null,
        reply: '',
        duration_ms: 0,
        state: 'started',
      });
    let parts: Array<{ part: number; data: Uint8Array }> | undefined;
    let damage: string | undefined;
    if (unfinished) {
      parts = tryAll(() => payload.all(seq) as Array<{ part: number; data: Uint8Array }>);
      const length = parts?.reduce((n, x) => n + x.data.length, 0);
      if (length !== Number(row.size)) {
        damage = `abandoned: its content was damaged in a corrupt queue file (kept as ${asidePath})`;
        parts = undefined;
      }
    }
    const state = !unfinished
      ? row.state
      : damage
        ? 'abandoned'
        : row.state === 'sending'
          ? 'queued'
          : row.state;
    fresh.exec('BEGIN IMMEDIATE');
    try {
      const values = COLUMNS.map((c) =>
        c === 'state'
          ? state
          : c === 'reason' && damage
            ? damage
            : c === 'updated_at' && unfinished
              ? now
              : row[c],
      );
      if (insertMessage.run(...values).changes === 0) {
        fresh.exec('ROLLBACK');
        return;
      }
      for (const x of parts ?? []) insertPayload.run(seq, x.part, x.data);
      // A recipient without a row (no outcome of its own yet, or its row unreadable) stays without
      // one (store-schema.ts, recipients), but for a damaged message: its pending ones are abandoned.
      const byN = new Map(rcpts?.map((r) => [r.n, r]));
      const list = (JSON.parse(String(row.recipients)) as string[]).flatMap((address, n): RecipientRow[] => {
        const r = byN.get(n);
        if (r) return [r];
        return damage ? [{ n, address, state: 'pending', code: null, reply: null, updated_at: null }] : [];
      });
      for (const r of list) {
        const pending = r.state === 'pending' && damage !== undefined;
        insertRcpt.run(
          seq,
          r.n,
          r.address,
          pending ? 'abandoned' : r.state,
          r.code,
          pending ? damage! : r.reply,
          pending ? now : r.updated_at,
        );
      }
      for (const a of tries) {
        const started = a.state === 'started';
        insertAttempt.run(
          seq,
          a.n,
          a.at,
          a.code,
          started ? 'no outcome: the queue file turned corrupt during this attempt' : a.reply,
          a.duration_ms,
          started ? 'interrupted' : a.state,
        );
      }
      fresh.exec('COMMIT');
    } catch (err) {
      if (fresh.isTransaction) fresh.exec('ROLLBACK');
      throw err;
    }
    if (!unfinished) out.history++;
    else if (damage) out.damaged++;
    else out.requeued++;
  };
}
