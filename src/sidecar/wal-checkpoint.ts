/**
 * Checkpoints of the queue's WAL that keep the event loop free. SQLite's own checkpoint, run by the
 * COMMIT that takes the WAL past 1,000 pages, syncs the WAL, copies its pages into the database
 * file and syncs that file: two fsyncs on the thread that serves the doors (measured in
 * `npm run bench:sidecar`: most of the commits that held the loop over 3 ms, up to 80 ms under
 * load). Here the same steps run with both fsyncs on libuv's thread pool:
 *
 * 1. writes pause: no transaction starts until step 4 is done, since a write could restart the WAL
 *    over frames whose pages are not yet safe in the database file;
 * 2. fdatasync of the WAL: every frame about to be copied is on disk;
 * 3. `wal_checkpoint(PASSIVE)` with `synchronous=OFF`: the pages are copied, not synced;
 * 4. fdatasync of the database file, then `wal_checkpoint(TRUNCATE)`: nothing is left to copy and
 *    the WAL file is emptied (its size tells when the next checkpoint is due); writes go on.
 *
 * SQLite's automatic checkpoint stays as a backstop at four times the threshold (one batch of
 * max-size messages can outgrow it before the next commit).
 *
 * @module
 */
import { close, fdatasyncSync, fstatSync, openSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';

/** An fdatasync with a callback (`fs.fdatasync`, or a test's). */
export type SyncFn = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

/** WAL bytes since the last checkpoint that start the next one; about SQLite's 1,000 pages. */
export const CHECKPOINT_BYTES = 4 * 1024 * 1024;

export interface CheckpointOptions {
  /** WAL growth that starts a checkpoint; default {@link CHECKPOINT_BYTES}. */
  bytes?: number;
  sync: SyncFn;
  /** Told of a failed step (the writes resume, except after a failed sync of the database file). */
  onError: (err: unknown) => void;
}

/** Runs the queue's checkpoints in steps, off the event loop. Owned by the group committer. */
export class WalCheckpointer {
  readonly #db: DatabaseSync;
  readonly #dbPath: string;
  readonly #bytes: number;
  readonly #sync: SyncFn;
  readonly #onError: (err: unknown) => void;
  #dbFd: number | undefined;
  #walFd = -1;
  /** WAL size after the last checkpoint (0 once it was emptied). */
  #base = 0;
  #busy = false;
  #stopped = false;
  #resume: (() => void) | undefined;

  constructor(db: DatabaseSync, dbPath: string, o: CheckpointOptions) {
    this.#db = db;
    this.#dbPath = dbPath;
    this.#bytes = o.bytes ?? CHECKPOINT_BYTES;
    this.#sync = o.sync;
    this.#onError = o.onError;
    const page = (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    db.exec(`PRAGMA wal_autocheckpoint = ${Math.ceil((4 * this.#bytes) / page)}`);
  }

  /** A checkpoint is under way: no write transaction may start until it calls its `resume`. */
  get busy(): boolean {
    return this.#busy;
  }

  /** After a commit: starts a checkpoint when the WAL has grown enough; `resume` is called when writes may go on. */
  maybeStart(walFd: number, resume: () => void): void {
    if (this.#busy || this.#stopped || fstatSync(walFd).size < this.#base + this.#bytes) return;
    this.#busy = true;
    this.#walFd = walFd;
    this.#resume = resume;
    this.#sync(walFd, (err) => {
      if (this.#stopped) return;
      if (err) return this.#end(err);
      try {
        this.#db.exec('PRAGMA synchronous = OFF');
        try {
          this.#db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
        } finally {
          this.#db.exec('PRAGMA synchronous = NORMAL');
        }
        this.#dbFd ??= openSync(this.#dbPath, 'r+');
      } catch (e) {
        // A checkpoint that failed (a full disk) leaves the WAL as it was: writes may go on.
        return this.#end(e);
      }
      this.#syncDb();
    });
  }

  #syncDb(): void {
    this.#sync(this.#dbFd!, (err) => {
      if (this.#stopped) return;
      if (err) {
        // The copied pages may not be on disk and the WAL may hold their only copy: writes stay
        // paused (one could restart the WAL) and the sync is tried again.
        this.#onError(err);
        setTimeout(() => this.#syncDb(), 1000);
        return;
      }
      try {
        // A reader in another process would make TRUNCATE wait for it on this thread: not at all.
        this.#db.exec('PRAGMA busy_timeout = 0');
        try {
          this.#db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
        } finally {
          this.#db.exec('PRAGMA busy_timeout = 5000');
        }
      } catch (e) {
        // Not emptied: the WAL restarts from its start at the next write instead.
        this.#onError(e);
      }
      this.#end();
    });
  }

  #end(err?: unknown): void {
    this.#busy = false;
    if (err !== undefined) this.#onError(err);
    try {
      this.#base = fstatSync(this.#walFd).size;
    } catch {
      this.#base = 0;
    }
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }

  /**
   * The database is closing: whatever step is under way, both files are synced now, so no page
   * of a checkpoint is left unsafe when SQLite's own closing checkpoint restarts the WAL.
   */
  finish(): void {
    try {
      if (!this.#stopped && this.#busy) {
        fdatasyncSync(this.#walFd);
        if (this.#dbFd !== undefined) fdatasyncSync(this.#dbFd);
      }
    } catch (err) {
      this.#onError(err);
    }
    this.abandon();
  }

  /** Stops for good (the file is closing or being given up); a step under way does nothing more. */
  abandon(): void {
    this.#stopped = true;
    this.#busy = false;
    if (this.#dbFd !== undefined) {
      const fd = this.#dbFd;
      this.#dbFd = undefined;
      // A sync under way still holds the file; closing the descriptor after it is harmless.
      close(fd, () => {});
    }
  }
}
