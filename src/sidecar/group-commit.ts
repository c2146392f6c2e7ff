/**
 * Group commit: many small writes, one transaction, one fsync. Each caller gets a promise that
 * settles only after the transaction holding its write has committed, so "acknowledge after commit"
 * stays true while the disk sees a few hundred commits a second instead of one per message.
 *
 * Writes are `durable` (a new message: the app is told it is safe) or not (a state change: losing
 * it to a power cut means a message is sent again, never lost).
 *
 * In WAL mode (`walPath` given) every batch commits with `synchronous=NORMAL` (frames written, not
 * synced) and a durable write settles only after an `fdatasync` of the WAL file that started after
 * its COMMIT returned. That fsync runs on libuv's thread pool, so the event loop that serves the
 * doors never waits for the disk (a synchronous fsync in COMMIT took 3 ms a batch, and its tail
 * showed up as POST latency); up to two run at once ({@link WalSyncs}, wal-sync.ts), and batches
 * that commit while both run share the next. The WAL is append-only between checkpoints and SQLite
 * syncs it before each checkpoint, so a synced COMMIT frame is as durable as `synchronous=FULL`
 * makes it. Without a WAL path a batch holding a durable write commits with `synchronous=FULL`.
 *
 * @module
 */
import { fdatasync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { type SyncFn, WalCheckpointer } from './wal-checkpoint.ts';
import { WalSyncs } from './wal-sync.ts';

/** A write to run inside the shared transaction. It must not start or end transactions itself. */
export type WriteOp<T> = (db: DatabaseSync) => T;

interface Pending {
  op: WriteOp<unknown>;
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /**
   * How long the first write of a batch waits for company, in ms; default 2. 0 flushes on the next
   * turn. In WAL mode a durable write does not wait while a sync slot is free
   * ({@link GroupCommitOptions.maxSyncs}): it flushes on the next turn, or as soon as an fsync under
   * way ends (batches form while the disk is busy).
   */
  windowMs?: number;
  /**
   * In WAL mode, how long a state change (a write that is not durable: a claim, an outcome) waits
   * for company, in ms; default 10. It commits sooner with any durable write. Each transaction
   * writes whole pages (the message row's leaf, its indexes, the state counts) into the WAL: an
   * enqueue, a claim and an outcome in three transactions wrote 24 pages, an outcome riding in a
   * new message's transaction saves 6 of them. At 200 messages a second the disk writes per
   * message (WAL and checkpoints) fell from 78 to 54-59 KiB: less for the fdatasyncs that
   * acknowledgements wait for, fewer checkpoints that pause them. A state change that work waits
   * on waits `windowMs` instead ({@link GroupCommitter.hurry}), and takes the batch with it.
   */
  stateWindowMs?: number;
  /** Flush at once when this many writes wait; default 512. */
  maxBatch?: number;
  /**
   * The database's WAL file (WAL mode only): commits do not sync, durable writers wait for an
   * asynchronous fdatasync of this file instead.
   */
  walPath?: string;
  /** The fdatasync to use (tests hold it back); default `fs.fdatasync`. */
  sync?: SyncFn;
  /** WAL growth that starts a checkpoint (WAL mode); default 8 MiB. See {@link WalCheckpointer}. */
  checkpointBytes?: number;
  /** In WAL mode, fdatasyncs of the WAL that may be under way at once; default 2 (see wal-sync.ts). */
  maxSyncs?: number;
}

/** Raised to every writer of a batch whose COMMIT failed (disk full, I/O error): nothing of it is stored. */
export class CommitError extends Error {
  /** SQLite's result code of the failure, when SQLite raised it (13: SQLITE_FULL). */
  readonly sqliteCode: number | undefined;
  /** The system error code, when the failure was the WAL's fsync (`ENOSPC`, `EIO`). */
  readonly code: string | undefined;
  constructor(cause: unknown) {
    super(`the queue could not commit: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'CommitError';
    const code = (cause as { errcode?: unknown } | undefined)?.errcode;
    // Extended result codes carry the primary code in their low byte.
    this.sqliteCode = typeof code === 'number' ? code & 0xff : undefined;
    const sys = (cause as { code?: unknown } | undefined)?.code;
    this.code = typeof sys === 'string' ? sys : undefined;
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
  readonly #stateWindowMs: number;
  readonly #maxBatch: number;
  readonly #walPath: string | undefined;
  /** The WAL's fdatasyncs (WAL mode only). */
  readonly #syncs: WalSyncs | undefined;
  readonly #checkpoints: WalCheckpointer | undefined;
  #batch: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When {@link #timer} fires (performance.now()). */
  #timerAt = 0;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;
  /** The connection's current `synchronous` setting (FULL when true). */
  #durable = true;
  /** Transactions committed so far (for metrics and tests). */
  commits = 0;
  /** Batches that failed to commit (or whose fsync failed). */
  failures = 0;
  /** Told of every failed batch (the store watches for a full disk). */
  onError: ((err: CommitError) => void) | undefined;
  /** Told after every batch, committed or rolled back (the disk guard measures the queue again). */
  afterBatch: (() => void) | undefined;

  constructor(db: DatabaseSync, opts: GroupCommitOptions = {}) {
    this.#db = db;
    this.#windowMs = opts.windowMs ?? 2;
    // A window of 0 (flush on the next turn) holds for state changes too.
    this.#stateWindowMs =
      opts.walPath && this.#windowMs > 0
        ? Math.max(this.#windowMs, opts.stateWindowMs ?? 10)
        : this.#windowMs;
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#walPath = opts.walPath;
    const sync = opts.sync ?? fdatasync;
    if (this.#walPath) {
      this.#setSynchronous(false);
      this.#syncs = new WalSyncs(this.#walPath, {
        sync,
        maxSyncs: Math.max(1, opts.maxSyncs ?? 2),
        onFail: (cause, writers) => this.#fail(new CommitError(cause), writers),
        // Durable writes that gathered meanwhile commit now and ride the next fsync.
        afterSync: () => (this.#batch.some((p) => p.durable) ? this.#scheduleNow() : this.#syncs!.start()),
      });
      this.#checkpoints = new WalCheckpointer(db, this.#walPath.replace(/-wal$/, ''), {
        sync,
        ...(opts.checkpointBytes !== undefined ? { bytes: opts.checkpointBytes } : {}),
        onError: (err) => this.onError?.(new CommitError(err)),
      });
    }
  }

  /** A checkpoint is under way: nothing else may checkpoint or vacuum until it ends. */
  get checkpointing(): boolean {
    return this.#checkpoints?.busy ?? false;
  }

  /**
   * Queues a write; resolves with its result once committed, rejects if the op or the commit fails.
   * `durable` writes are fsynced before they settle.
   */
  write<T>(op: WriteOp<T>, durable = true): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the queue is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#batch.push({ op, durable, resolve: resolve as (v: unknown) => void, reject });
      const idleDisk = durable && this.#syncs?.free === true;
      if (this.#batch.length >= this.#maxBatch || idleDisk) this.#scheduleNow();
      else this.#flushWithin(durable ? this.#windowMs : this.#stateWindowMs);
    });
  }

  /**
   * Commits what waits within `windowMs`, as a durable write would, instead of at the end of a
   * state window: work waits on it (the messages of a claim, the send slots of outcomes).
   */
  hurry(): void {
    if (this.#batch.length > 0) this.#flushWithin(this.#windowMs);
  }

  /** Flushes in `wait` ms at the latest: a write that may not wait long brings a later flush forward. */
  #flushWithin(wait: number): void {
    if (this.#immediate) return;
    if (wait <= 0) {
      this.#scheduleNow();
      return;
    }
    const at = performance.now() + wait;
    if (this.#timer && at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.flush(), wait);
    this.#timerAt = at;
  }

  #scheduleNow(): void {
    if (this.#immediate) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#immediate = setImmediate(() => this.flush());
  }

  #setSynchronous(full: boolean): void {
    if (full === this.#durable) return;
    this.#db.exec(`PRAGMA synchronous = ${full ? 'FULL' : 'NORMAL'}`);
    this.#durable = full;
  }

  /**
   * Commits everything waiting now (synchronously), unless a checkpoint is under way (then when it
   * ends); durable writers still wait for their fsync.
   */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#checkpoints?.paused) return;
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      if (!this.#walPath) this.#setSynchronous(batch.some((p) => p.durable));
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
      this.afterBatch?.();
    } catch (cause) {
      try {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      } catch {
        // The rollback error adds nothing to the commit error every writer receives.
      }
      // The connection is back in autocommit mode: the next batch starts a transaction afresh.
      this.afterBatch?.();
      this.#fail(new CommitError(cause), batch);
      return;
    }
    const commit = this.commits;
    batch.forEach((p, i) => {
      const r = results[i]!;
      const settle = r.ok ? () => p.resolve(r.value) : () => p.reject(r.error);
      // Even a duplicate or a refusal waits: it may describe a row that is not on disk yet.
      if (this.#syncs && p.durable) this.#syncs.add(commit, { settle, reject: p.reject });
      else settle();
    });
    // Once closed, close() syncs what is left itself.
    if (!this.#closed) this.#syncs?.start();
    this.#maybeCheckpoint();
  }

  #maybeCheckpoint(): void {
    if (!this.#checkpoints || !this.#syncs || this.#closed) return;
    try {
      this.#checkpoints.maybeStart(this.#syncs.fd(), () => {
        if (this.#batch.length > 0) this.#scheduleNow();
      });
    } catch (err) {
      // No checkpoint now; SQLite's own takes over if the WAL keeps growing.
      this.onError?.(new CommitError(err));
    }
  }

  #fail(err: CommitError, writers: ReadonlyArray<{ reject: (err: unknown) => void }>): void {
    this.failures++;
    this.onError?.(err);
    for (const p of writers) p.reject(err);
  }

  /**
   * Refuses with `err`, and without running them, every write waiting for a commit, every committed
   * write still waiting for its sync (its file is being given up: the app sends it again), and any
   * later write.
   */
  abort(err: Error): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#closed = true;
    this.#checkpoints?.abandon();
    for (const p of this.#batch.splice(0)) p.reject(err);
    this.#syncs?.abort(err);
  }

  /**
   * Flushes what waits, syncs what is not yet on disk (synchronously: the database closes next),
   * and refuses further writes.
   */
  close(): void {
    this.#closed = true;
    this.#checkpoints?.finish();
    this.flush();
    this.#syncs?.close();
  }
}
