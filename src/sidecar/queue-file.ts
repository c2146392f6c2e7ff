/**
 * The queue file's lifecycle: `<dataDir>/queue.db` from open to close, so that the `QueueStore`
 * (store.ts) deals only with messages. It opens the file (a start on a full disk opens it later,
 * once there is room), returns deliveries a crashed process left in `sending`, watches the file
 * for corruption and swaps in a fresh queue when it turns corrupt, and closes it.
 *
 * The database, its {@link GroupCommitter} and its {@link DiskGuard} are replaced together on each
 * open; the store is told through `onOpen` so it prepares its statements on the new database.
 * The seq numbers the store hands out stay unique across a swap ({@link QueueFile.base}), so an
 * attempt claimed from the old file can never be recorded on a message of the new one.
 *
 * @module
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { DiskGuard, isDiskFull } from './disk-guard.ts';
import { type GroupCommitOptions, GroupCommitter, type WriteOp } from './group-commit.ts';
import { DEFAULT_MAX_CRASHES, DEFAULT_MAX_QUEUE_BYTES } from './limits.ts';
import { type Salvage, salvageQueue } from './queue-salvage.ts';
import {
  INTERRUPTED,
  isCorrupt,
  probeQueueFile,
  recordInterrupted,
  recoverInterrupted,
} from './store-recovery.ts';
import { moveAside, type OpenedQueue, openQueueDb, placeholderQueueDb } from './store-schema.ts';

/** Options of the queue file: its committer's, and the limits its guard and recovery apply. */
export interface QueueFileOptions extends GroupCommitOptions {
  /** Quota on disk (`--max-queue-bytes`). */
  maxQueueBytes?: number;
  /** Spare file size kept for a full disk. */
  spareBytes?: number;
  /** Attempts ending in a crash before a message is abandoned; default 3. */
  maxCrashes?: number;
}

/** A queue file found corrupt, where it was moved, and what of it was copied into the fresh queue. */
export interface CorruptQueue {
  path: string;
  problem: string;
  salvage: Salvage;
}

/** Seq numbers of each fresh queue after a corrupt one start this far above the previous one's. */
const GENERATION = 2 ** 40;

/** The open queue file of one data directory, kept open (or reopened fresh) until {@link QueueFile.close}. */
export class QueueFile {
  /** Messages that were in `sending` when the file opened (their process stopped mid-delivery). */
  recovered = 0;
  /** Of those, messages abandoned because too many of their attempts ended in a crash. */
  poisoned = 0;
  /** Why the queue file is not open yet (a full disk at start), or undefined once it is. */
  opening: string | undefined;
  /** Told when the queue file opened, or its interrupted deliveries returned, after a start on a full disk. */
  onOpened: ((r: { recovered: number; poisoned: number }) => void) | undefined;
  /** Where a corrupt or unreadable queue file was moved at open, if one was, and why. */
  readonly movedAside: CorruptQueue | undefined;
  /** Told when the queue file turned corrupt while running and a fresh queue took its place. */
  onCorrupt: ((e: CorruptQueue) => void) | undefined;
  readonly #dir: string;
  readonly #opts: QueueFileOptions;
  readonly #onOpen: (db: DatabaseSync) => void;
  #db!: DatabaseSync;
  #committer!: GroupCommitter;
  #disk!: DiskGuard;
  #base = 0;
  /** Transactions committed on the files opened before the current one. */
  #commitsBefore = 0;
  #swapping = false;
  #closed = false;
  /** Rows left in `sending` by the last process wait to be returned to the queue (no room yet). */
  #unrecovered = false;
  readonly #probe: NodeJS.Timeout;

  /**
   * Opens (creating when needed) `<dataDir>/queue.db` and recovers interrupted deliveries.
   * `onOpen` is called with each database opened (at first, after a late open, after a swap),
   * before any write can reach it.
   */
  constructor(dataDir: string, opts: QueueFileOptions, onOpen: (db: DatabaseSync) => void) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.#dir = dataDir;
    this.#opts = opts;
    this.#onOpen = onOpen;
    const opened = this.#tryOpen();
    if (opened) {
      if (opened.movedAside) this.movedAside = salvaged(opened.db, opened.movedAside, opened.problem);
      this.#open(opened.db);
      // No room to write (the spare file is given up at the first failure): returned to the queue
      // once there is room, by the tick below.
      if (!this.#recover() && !this.#recover()) this.#unrecovered = true;
    } else {
      // SQLite cannot even open the file on a disk without one free page (it rebuilds its -shm):
      // the doors refuse new mail ("try later") until the file opens, instead of a crash loop.
      this.opening = 'the disk of the queue is full: the queue cannot be opened yet; try again later';
      this.#open(placeholderQueueDb());
    }
    this.#probe = setInterval(() => {
      if (this.opening !== undefined) return this.#openLater();
      if (this.#unrecovered && this.#recover()) {
        this.#unrecovered = false;
        this.onOpened?.({ recovered: this.recovered, poisoned: this.poisoned });
      }
      const problem = probeQueueFile(join(this.#dir, 'queue.db'));
      if (problem) this.#corrupt(problem);
    }, 1000);
    this.#probe.unref();
  }

  /** The open database (a fresh one after a corrupt file was moved aside). */
  get db(): DatabaseSync {
    return this.#db;
  }

  /** Transactions committed since this object opened its first file. */
  get commits(): number {
    return this.#commitsBefore + this.#committer.commits;
  }

  /** The group committer of the open database. */
  get committer(): GroupCommitter {
    return this.#committer;
  }

  /** The quota and full-disk guard of the open database. */
  get disk(): DiskGuard {
    return this.#disk;
  }

  /**
   * Added to the open file's seq numbers to make the seq the store hands out: a fresh queue after a
   * corrupt one counts on from above, so a seq below it belongs to a file that was moved aside.
   */
  get base(): number {
    return this.#base;
  }

  /**
   * Opens the queue file; on a full disk first gives back the spare file kept for this, and
   * returns undefined when the disk is still too full to open it.
   */
  #tryOpen(): OpenedQueue | undefined {
    try {
      return openQueueDb(this.#dir);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
    rmSync(join(this.#dir, 'queue.spare'), { force: true });
    try {
      return openQueueDb(this.#dir);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      return undefined;
    }
  }

  /** Returns interrupted deliveries to the queue; false when the disk had no room for it. */
  #recover(): boolean {
    try {
      const r = recoverInterrupted(this.#db, this.#opts.maxCrashes ?? DEFAULT_MAX_CRASHES);
      this.recovered = r.recovered;
      this.poisoned = r.poisoned;
      return true;
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      this.#disk.onWriteError(err);
      return false;
    }
  }

  /** After a start on a full disk: opens the file once there is room, in place of the stand-in. */
  #openLater(): void {
    let opened: OpenedQueue | undefined;
    try {
      opened = this.#tryOpen();
    } catch {
      // Anything but a full disk (a file that appeared unreadable is moved aside by openQueueDb):
      // keep refusing, try again on the next tick.
    }
    if (!opened || this.#closed) return;
    this.#committer.abort(new Error(this.opening));
    this.#db.close();
    const aside = opened.movedAside && salvaged(opened.db, opened.movedAside, opened.problem);
    this.#open(opened.db);
    this.#unrecovered = !this.#recover();
    this.opening = undefined;
    if (aside) this.onCorrupt?.(aside);
    this.onOpened?.({ recovered: this.recovered, poisoned: this.poisoned });
  }

  #open(db: DatabaseSync): void {
    const opts = this.#opts;
    const old = this.#committer;
    if (old) this.#commitsBefore += old.commits;
    this.#db = db;
    const mode = (db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
    this.#committer = new GroupCommitter(db, {
      ...opts,
      ...(mode === 'wal' ? { walPath: join(this.#dir, 'queue.db-wal') } : {}),
    });
    this.#disk = new DiskGuard(db, this.#dir, {
      maxQueueBytes: opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      ...(opts.spareBytes !== undefined ? { spareBytes: opts.spareBytes } : {}),
      busy: () => this.#committer.checkpointing,
    });
    // A handler the sidecar set on the committer outlives the database it was set for.
    this.#committer.onError = old?.onError ?? ((err) => this.#disk.onWriteError(err));
    this.#committer.afterBatch = () => this.#disk.changed();
    this.#onOpen(db);
  }

  /**
   * The file is corrupt: once the statement under way has ended, the writes waiting for a commit
   * are refused (they would go into a file that is being given up), the file is moved aside and a
   * fresh queue opens. Sends under way finish; their outcomes, which belong to the old file, are
   * dropped.
   */
  #corrupt(problem: string): void {
    if (this.#swapping || this.#closed) return;
    this.#swapping = true;
    setImmediate(() => this.#swap(problem));
  }

  #swap(problem: string, movedTo?: string): void {
    if (this.#closed) return;
    let path = movedTo;
    let corrupt: CorruptQueue;
    try {
      if (path === undefined) {
        this.#committer.abort(new Error(`the queue file is corrupt (${problem}); try again`));
        this.#base += GENERATION;
        // Renamed while still open: closing then cannot delete the WAL at the old path, which the
        // fresh queue is about to use.
        path = moveAside(this.#dir);
        try {
          this.#db.close();
        } catch {
          // A damaged file may fail its last checkpoint; it has been moved aside all the same.
        }
      }
      const fresh = openQueueDb(this.#dir).db;
      corrupt = salvaged(fresh, path, problem);
      this.#open(fresh);
    } catch {
      // No fresh queue yet (a full disk, say): writes are refused meanwhile; try again shortly.
      const again = path;
      setTimeout(() => this.#swap(problem, again), 1000).unref();
      return;
    }
    this.#swapping = false;
    this.onCorrupt?.(corrupt);
  }

  /** Runs a read; an error that says the file is corrupt starts the swap to a fresh queue. */
  read<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (isCorrupt(err)) this.#corrupt((err as Error).message);
      throw err;
    }
  }

  /** Queues a write (see {@link GroupCommitter.write}), watching it for a corrupt file. */
  write<T>(op: WriteOp<T>, durable = true): Promise<T> {
    return this.#committer.write(op, durable).catch((err: unknown) => {
      if (isCorrupt(err)) this.#corrupt((err as Error).message);
      throw err;
    });
  }

  /**
   * Commits what waits and closes the database. Messages still in `sending` (their sends did not
   * finish in time) go back to the queue, their attempt marked interrupted but not counted as a crash.
   */
  close(): void {
    this.#closed = true;
    clearInterval(this.#probe);
    this.#committer.close();
    try {
      recordInterrupted(this.#db, INTERRUPTED);
      this.#db.prepare("UPDATE messages SET state = 'queued' WHERE state = 'sending'").run();
    } catch {
      // A full disk: the rows return on the next start instead, counted as interrupted.
    }
    this.#db.close();
  }
}

/**
 * Copies what can still be read from a file moved aside into the fresh queue `db`, before anything
 * else writes to it. A failure to write the copies (a full disk) leaves the rest in the file.
 */
function salvaged(db: DatabaseSync, path: string, problem = ''): CorruptQueue {
  let salvage: Salvage;
  try {
    salvage = salvageQueue(db, path);
  } catch (err) {
    salvage = { requeued: 0, damaged: 0, history: 0, unreadable: true, problem: (err as Error).message };
  }
  return { path, problem, salvage };
}
