/**
 * The durable queue: one SQLite database (built-in `node:sqlite`) on the data volume, in WAL mode
 * with `synchronous=FULL`, so a message whose write has committed survives a crash of the process
 * and of the machine. Writes go through a {@link GroupCommitter}: front doors acknowledge only when
 * the promise of their insert resolves.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { type GroupCommitOptions, GroupCommitter } from './group-commit.ts';
import type { Attempt, ClaimedMessage, MessageState, MessageView, NewMessage, Outcome } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  idempotency_key TEXT UNIQUE,
  door TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload BLOB,
  recipients TEXT NOT NULL,
  recipient_index TEXT NOT NULL,
  subject TEXT NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  config_revision TEXT,
  reason TEXT
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(next_attempt_at, seq) WHERE state IN ('queued', 'deferred');
CREATE INDEX IF NOT EXISTS messages_state ON messages(state, seq);
CREATE INDEX IF NOT EXISTS messages_updated ON messages(updated_at) WHERE state IN ('sent', 'abandoned');
CREATE TABLE IF NOT EXISTS attempts (
  message_seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  at INTEGER NOT NULL,
  code INTEGER,
  reply TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (message_seq, n)
) WITHOUT ROWID;
`;

/** Filter and page of {@link QueueStore.list}. */
export interface ListQuery {
  state?: MessageState;
  /** Exact envelope recipient (case-insensitive). */
  recipient?: string;
  /** Page size, 1–500; default 50. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

export interface ListPage {
  messages: MessageView[];
  nextCursor?: string;
}

interface MessageRow {
  seq: number;
  id: string;
  door: string;
  recipients: string;
  subject: string;
  size: number;
  state: string;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
  config_revision: string | null;
  reason: string | null;
}

const VIEW_COLUMNS =
  'seq, id, door, recipients, subject, size, state, next_attempt_at, created_at, updated_at, config_revision, reason';

/** Result of an enqueue: the id, and whether an earlier message with the same idempotency key won. */
export interface Enqueued {
  id: string;
  duplicate: boolean;
}

/** The SQLite-backed queue. One instance per data directory and process. */
export class QueueStore {
  readonly db: DatabaseSync;
  readonly committer: GroupCommitter;
  readonly #insert: StatementSync;
  readonly #byKey: StatementSync;
  readonly #claim: StatementSync;
  readonly #finish: StatementSync;
  readonly #addAttempt: StatementSync;
  readonly #nextDue: StatementSync;
  /** Messages that were in `sending` when the store opened (their process stopped mid-delivery). */
  readonly recovered: number;

  /** Opens (creating when needed) `<dataDir>/queue.db`; rows left in `sending` go back to `queued`. */
  constructor(dataDir: string, opts: GroupCommitOptions = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new DatabaseSync(join(dataDir, 'queue.db'));
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.db.exec(SCHEMA);
    this.committer = new GroupCommitter(this.db, opts);
    this.#insert = this.db.prepare(
      `INSERT INTO messages (id, idempotency_key, door, kind, payload, recipients, recipient_index, subject, size,
         state, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
       ON CONFLICT (idempotency_key) DO NOTHING`,
    );
    this.#byKey = this.db.prepare('SELECT id FROM messages WHERE idempotency_key = ?');
    this.#claim = this.db.prepare(
      `UPDATE messages SET state = 'sending', updated_at = ?1
       WHERE seq IN (SELECT seq FROM messages WHERE state IN ('queued', 'deferred') AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at, seq LIMIT ?2)
       RETURNING seq, id, kind, payload, recipients, attempts, created_at`,
    );
    this.#finish = this.db.prepare(
      `UPDATE messages SET state = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?,
         config_revision = ?, reason = ?, payload = CASE WHEN ? THEN NULL ELSE payload END
       WHERE seq = ? RETURNING attempts`,
    );
    this.#addAttempt = this.db.prepare(
      'INSERT OR REPLACE INTO attempts (message_seq, n, at, code, reply, duration_ms) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#nextDue = this.db.prepare(
      "SELECT min(next_attempt_at) AS due FROM messages WHERE state IN ('queued', 'deferred')",
    );
    this.recovered = this.recover();
  }

  /** Returns interrupted deliveries to the queue (their outcome is unknown: at-least-once). */
  recover(): number {
    const r = this.db.prepare("UPDATE messages SET state = 'queued' WHERE state = 'sending'").run();
    return Number(r.changes);
  }

  /** Stores a message; resolves once committed. */
  enqueue(msg: NewMessage, now = Date.now()): Promise<Enqueued> {
    const id = randomUUID();
    const recipients = JSON.stringify(msg.recipients);
    const index = `,${msg.recipients.map((r) => r.toLowerCase()).join(',')},`;
    return this.committer.write(() => {
      const r = this.#insert.run(
        id,
        msg.idempotencyKey ?? null,
        msg.door,
        msg.kind,
        msg.payload,
        recipients,
        index,
        msg.subject,
        msg.payload.length,
        now,
        now,
        now,
      );
      if (r.changes === 1) return { id, duplicate: false };
      const existing = this.#byKey.get(msg.idempotencyKey ?? '') as { id: string } | undefined;
      return { id: existing?.id ?? id, duplicate: true };
    });
  }

  /**
   * Moves up to `limit` due messages to `sending` and returns them. The claim rides in the next
   * group commit without an fsync: a claim lost to a crash is undone by {@link QueueStore.recover}.
   */
  claim(limit: number, now = Date.now()): Promise<ClaimedMessage[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.committer.write(() => {
      const rows = this.#claim.all(now, limit) as Array<{
        seq: number;
        id: string;
        kind: 'json' | 'raw';
        payload: Uint8Array;
        recipients: string;
        attempts: number;
        created_at: number;
      }>;
      return rows
        .map((r) => ({
          seq: r.seq,
          id: r.id,
          kind: r.kind,
          payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
          recipients: JSON.parse(r.recipients) as string[],
          attempts: r.attempts,
          createdAt: r.created_at,
        }))
        .sort((a, b) => a.seq - b.seq);
    }, false);
  }

  /** Records an attempt and the new state; resolves once committed. */
  finish(seq: number, outcome: Outcome, now = Date.now()): Promise<void> {
    const done = outcome.state !== 'deferred';
    const next = outcome.state === 'deferred' ? outcome.nextAttemptAt : now;
    const a = outcome.attempt;
    return this.committer.write(() => {
      const row = this.#finish.get(
        outcome.state,
        next,
        now,
        outcome.configRevision,
        outcome.reason ?? null,
        done ? 1 : 0,
        seq,
      ) as { attempts: number } | undefined;
      if (!row) return;
      this.#addAttempt.run(seq, row.attempts, Date.parse(a.at), a.code, a.reply, Math.round(a.durationMs));
    }, false);
  }

  /** Earliest due time of a waiting message, or undefined when none waits. */
  nextDueAt(): number | undefined {
    const r = this.#nextDue.get() as { due: number | null };
    return r.due ?? undefined;
  }

  /** One message with its attempts, or undefined. */
  get(id: string): MessageView | undefined {
    const row = this.db.prepare(`SELECT ${VIEW_COLUMNS} FROM messages WHERE id = ?`).get(id) as
      | MessageRow
      | undefined;
    return row ? this.#views([row])[0] : undefined;
  }

  /** Messages newest first, filtered, paged by an opaque cursor. */
  list(q: ListQuery = {}): ListPage {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.state) {
      where.push('state = ?');
      args.push(q.state);
    }
    if (q.recipient) {
      where.push("recipient_index LIKE ? ESCAPE '\\'");
      args.push(`%,${q.recipient.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)},%`);
    }
    if (q.cursor) {
      const before = Number.parseInt(Buffer.from(q.cursor, 'base64url').toString(), 10);
      if (Number.isSafeInteger(before)) {
        where.push('seq < ?');
        args.push(before);
      }
    }
    const sql = `SELECT ${VIEW_COLUMNS} FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, limit + 1) as unknown as MessageRow[];
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      messages: this.#views(page),
      ...(rows.length > limit && last
        ? { nextCursor: Buffer.from(String(last.seq)).toString('base64url') }
        : {}),
    };
  }

  /** Number of messages in each state. */
  counts(): Record<MessageState, number> {
    const out: Record<MessageState, number> = { queued: 0, sending: 0, sent: 0, deferred: 0, abandoned: 0 };
    for (const r of this.db
      .prepare('SELECT state, count(*) AS n FROM messages GROUP BY state')
      .all() as Array<{
      state: MessageState;
      n: number;
    }>)
      out[r.state] = r.n;
    return out;
  }

  /** Deletes finished messages (sent, abandoned) last updated before `before`; returns how many. */
  purge(before: number): number {
    this.committer.flush();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db
        .prepare(
          `DELETE FROM attempts WHERE message_seq IN
             (SELECT seq FROM messages WHERE state IN ('sent', 'abandoned') AND updated_at < ?)`,
        )
        .run(before);
      const r = this.db
        .prepare("DELETE FROM messages WHERE state IN ('sent', 'abandoned') AND updated_at < ?")
        .run(before);
      this.db.exec('COMMIT');
      return Number(r.changes);
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Commits what waits and closes the database. */
  close(): void {
    this.committer.close();
    this.db.close();
  }

  #views(rows: MessageRow[]): MessageView[] {
    if (rows.length === 0) return [];
    const attempts = new Map<number, Attempt[]>();
    const placeholders = rows.map(() => '?').join(',');
    const all = this.db
      .prepare(
        `SELECT message_seq, at, code, reply, duration_ms FROM attempts WHERE message_seq IN (${placeholders}) ORDER BY message_seq, n`,
      )
      .all(...rows.map((r) => r.seq)) as Array<{
      message_seq: number;
      at: number;
      code: number | null;
      reply: string;
      duration_ms: number;
    }>;
    for (const a of all) {
      const list = attempts.get(a.message_seq) ?? [];
      list.push({
        at: new Date(a.at).toISOString(),
        code: a.code,
        reply: a.reply,
        durationMs: a.duration_ms,
      });
      attempts.set(a.message_seq, list);
    }
    return rows.map((r) => {
      const view: MessageView = {
        id: r.id,
        state: r.state as MessageState,
        door: r.door as MessageView['door'],
        recipients: JSON.parse(r.recipients) as string[],
        subject: r.subject,
        size: r.size,
        createdAt: new Date(r.created_at).toISOString(),
        updatedAt: new Date(r.updated_at).toISOString(),
        attempts: attempts.get(r.seq) ?? [],
      };
      if (r.state === 'queued' || r.state === 'deferred')
        view.nextAttemptAt = new Date(r.next_attempt_at).toISOString();
      if (r.config_revision) view.configRevision = r.config_revision;
      if (r.reason) view.reason = r.reason;
      return view;
    });
  }
}
