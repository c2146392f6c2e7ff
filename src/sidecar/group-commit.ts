/**
 * Group commit: many small writes, one transaction, one fsync. Each caller gets a promise that
 * settles only after the transaction holding its write has committed, so "acknowledge after commit"
 * stays true while the disk sees a few hundred commits a second instead of one per message.
 *
 * Writes are `durable` (a new message: the app is told it is safe) or not (a state change: losing
 * it to a power cut means a message is sent again, never lost). A batch holding a durable write
 * commits with `synchronous=FULL` (fsync of the WAL); others with `NORMAL`. The WAL is append-only
 * and a FULL commit syncs every frame before it, so this never reorders what reaches the disk.
 *
 * @module
 */
import type { DatabaseSync } from 'node:sqlite';

/** A write to run inside the shared transaction. It must not start or end transactions itself. */
export type WriteOp<T> = (db: DatabaseSync) => T;

interface Pending {
  op: WriteOp<unknown>;
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** How long the first write of a batch waits for company, in ms; default 2. 0 flushes on the next turn. */
  windowMs?: number;
  /** Flush at once when this many writes wait; default 512. */
  maxBatch?: number;
}

/** Raised to every writer of a batch whose COMMIT failed (disk full, I/O error): nothing of it is stored. */
export class CommitError extends Error {
  /** SQLite's result code of the failure, when SQLite raised it (13: SQLITE_FULL). */
  readonly sqliteCode: number | undefined;
  constructor(cause: unknown) {
    super(`the queue could not commit: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'CommitError';
    const code = (cause as { errcode?: unknown } | undefined)?.errcode;
    // Extended result codes carry the primary code in their low byte.
    this.sqliteCode = typeof code === 'number' ? code & 0xff : undefined;
  }
}

/**
 * Batches writes into transactions.
 *
 * @example
 * const gc = new GroupCommitter(db);
 * const id = await gc.write((db) => insert.run(...).lastInsertRowid); // committed when this resolves
 */
export class GroupCommitter {
  readonly #db: DatabaseSync;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  #batch: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;
  /** The connection's current `synchronous` setting (FULL when true). */
  #durable = true;
  /** Transactions committed so far (for metrics and tests). */
  commits = 0;
  /** Batches that failed to commit. */
  failures = 0;
  /** Told of every failed batch (the store watches for a full disk). */
  onError: ((err: CommitError) => void) | undefined;

  constructor(db: DatabaseSync, opts: GroupCommitOptions = {}) {
    this.#db = db;
    this.#windowMs = opts.windowMs ?? 2;
    this.#maxBatch = opts.maxBatch ?? 512;
  }

  /**
   * Queues a write; resolves with its result once committed, rejects if the op or the commit fails.
   * `durable` writes are fsynced before they resolve.
   */
  write<T>(op: WriteOp<T>, durable = true): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the queue is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#batch.push({ op, durable, resolve: resolve as (v: unknown) => void, reject });
      if (this.#batch.length >= this.#maxBatch) this.#scheduleNow();
      else if (!this.#timer && !this.#immediate) {
        if (this.#windowMs <= 0) this.#scheduleNow();
        else this.#timer = setTimeout(() => this.flush(), this.#windowMs);
      }
    });
  }

  #scheduleNow(): void {
    if (this.#immediate) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#immediate = setImmediate(() => this.flush());
  }

  /** Commits everything waiting now (synchronously). */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    const durable = batch.some((p) => p.durable);
    try {
      if (durable !== this.#durable) {
        this.#db.exec(`PRAGMA synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
        this.#durable = durable;
      }
      this.#db.exec('BEGIN IMMEDIATE');
      for (const p of batch) {
        try {
          results.push({ ok: true, value: p.op(this.#db) });
        } catch (error) {
          results.push({ ok: false, error });
        }
        // A failed statement rolls back only itself, unless SQLite rolled back the whole
        // transaction (SQLITE_FULL, I/O errors): then later writes would each autocommit on their
        // own and COMMIT would fail with "no transaction is active". The whole batch fails here.
        if (!this.#db.isTransaction) {
          const last = results.at(-1)!;
          throw last.ok ? new Error('the transaction ended before its commit') : last.error;
        }
      }
      this.#db.exec('COMMIT');
      this.commits++;
    } catch (cause) {
      try {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      } catch {
        // The rollback error adds nothing to the commit error every writer receives.
      }
      // The connection is back in autocommit mode: the next batch starts a transaction afresh.
      this.failures++;
      const err = new CommitError(cause);
      this.onError?.(err);
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const r = results[i]!;
      if (r.ok) p.resolve(r.value);
      else p.reject(r.error);
    });
  }

  /** Refuses every write waiting for a commit with `err`, without running it, and any later write. */
  abort(err: Error): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#closed = true;
    for (const p of this.#batch.splice(0)) p.reject(err);
  }

  /** Flushes what waits and refuses further writes. */
  close(): void {
    this.flush();
    this.#closed = true;
  }
}
