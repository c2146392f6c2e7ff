/**
 * Checkpoints of the queue's WAL that keep the event loop free. SQLite's own checkpoint, run by the
 * COMMIT that takes the WAL past 1,000 pages, syncs the WAL, copies its pages into the database
 * file and syncs that file: two fsyncs on the thread that serves the doors (measured in
 * `npm run bench:sidecar`: most of the commits that held the loop over 3 ms, up to 80 ms under
 * load). Here the same steps run with every fsync on libuv's thread pool, in two rounds of
 * (fdatasync of the WAL, copy with `synchronous=OFF`, fdatasync of the database file):
 *
 * 1. **While writes go on.** A read transaction on a second connection pins the WAL as it is: the
 *    copy takes no frame past it (so only frames the fdatasync covered), and no write can restart
 *    the WAL over frames whose pages are not yet safe in the database file. Most pages move here.
 * 2. **With writes paused** (a write could restart the WAL): the few frames written meanwhile are
 *    synced and copied and the database file is synced. The next write then starts the WAL over
 *    from its beginning. Without this round a WAL that always has new frames would never start
 *    over. The WAL file keeps its size: frames overwrite it in place, and an fdatasync that need
 *    not record a new file size is cheaper (a WAL emptied each time made the commits' fsyncs slower).
 *
 * When one is due is read from the WAL index (`-shm`): its header holds the number of frames in the
 * WAL (`mxFrame`, a native-endian 32-bit integer at offset 16; https://sqlite.org/walformat.html).
 *
 * SQLite's automatic checkpoint stays as a backstop at four times the threshold (one batch of
 * max-size messages can outgrow it before the next commit).
 *
 * @module
 */
import { close, fdatasyncSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { DatabaseSync } from 'node:sqlite';

/** An fdatasync with a callback (`fs.fdatasync`, or a test's). */
export type SyncFn = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

/**
 * WAL bytes since the last checkpoint that start the next one; about 2,000 pages. Each checkpoint
 * pauses durable writes for its last round, and a message in its own transactions writes about 13
 * pages (~50 KiB): at 200 messages a second 4 MiB meant 2.4 checkpoints a second, 8 MiB means 1.
 */
export const CHECKPOINT_BYTES = 8 * 1024 * 1024;

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
  /** The second connection whose read transaction pins the WAL in the first round. */
  #reader: DatabaseSync | undefined;
  #walFd = -1;
  /** The WAL index (`-shm`), read for its frame count. */
  #shmFd: number | undefined;
  readonly #head = Buffer.alloc(4);
  /** Frames that make a checkpoint due. */
  readonly #frames: number;
  #busy = false;
  #paused = false;
  #stopped = false;
  #resume: (() => void) | undefined;

  constructor(db: DatabaseSync, dbPath: string, o: CheckpointOptions) {
    this.#db = db;
    this.#dbPath = dbPath;
    this.#bytes = o.bytes ?? CHECKPOINT_BYTES;
    this.#sync = o.sync;
    this.#onError = o.onError;
    const page = (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    // A frame is a page and its 24-byte header.
    this.#frames = Math.max(1, Math.floor(this.#bytes / (page + 24)));
    db.exec(`PRAGMA wal_autocheckpoint = ${4 * this.#frames}`);
  }

  /** A checkpoint is under way: nothing else may checkpoint or vacuum. */
  get busy(): boolean {
    return this.#busy;
  }

  /** In the second round: no write transaction may start until it calls its `resume`. */
  get paused(): boolean {
    return this.#paused;
  }

  /** After a commit: starts a checkpoint when the WAL has grown enough; `resume` is called when paused writes may go on. */
  maybeStart(walFd: number, resume: () => void): void {
    if (this.#busy || this.#stopped || this.#walFrames() < this.#frames) return;
    this.#busy = true;
    this.#walFd = walFd;
    this.#resume = resume;
    try {
      this.#dbFd ??= openSync(this.#dbPath, 'r+');
      this.#reader ??= new DatabaseSync(this.#dbPath, { readOnly: true });
      this.#reader.exec('BEGIN');
      this.#reader.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (e) {
      this.#end(e, true);
      return;
    }
    this.#round(true);
  }

  /** fdatasync of the WAL, copy, fdatasync of the database file; then the next round, or the end. */
  #round(first: boolean): void {
    this.#sync(this.#walFd, (err) => {
      if (this.#stopped) return;
      if (err) return this.#end(err, first);
      try {
        this.#db.exec('PRAGMA synchronous = OFF');
        try {
          this.#db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
        } finally {
          this.#db.exec('PRAGMA synchronous = NORMAL');
        }
      } catch (e) {
        // A copy that failed (a full disk) moves nothing the WAL relies on: writes may go on.
        return this.#end(e, first);
      }
      this.#syncDb(first);
    });
  }

  #syncDb(first: boolean): void {
    this.#sync(this.#dbFd!, (err) => {
      if (this.#stopped) return;
      if (err) {
        // The copied pages may not be on disk and the WAL may hold their only copy: the WAL stays
        // pinned (or writes paused) and the sync is tried again.
        this.#onError(err);
        setTimeout(() => this.#syncDb(first), 1000);
        return;
      }
      if (first) {
        this.#unpin();
        this.#paused = true;
        return this.#round(false);
      }
      this.#end();
    });
  }

  /** Frames in the WAL now, from the WAL index header (0 when it cannot be read). */
  #walFrames(): number {
    try {
      this.#shmFd ??= openSync(`${this.#dbPath}-shm`, 'r');
      if (readSync(this.#shmFd, this.#head, 0, 4, 16) < 4) return 0;
    } catch {
      // No WAL index file (another locking mode): SQLite's own checkpoint takes over.
      return 0;
    }
    return endianness() === 'LE' ? this.#head.readUInt32LE(0) : this.#head.readUInt32BE(0);
  }

  #unpin(): void {
    try {
      if (this.#reader?.isTransaction) this.#reader.exec('COMMIT');
    } catch {
      // A read transaction that cannot end: closing the connection ends it.
      this.#reader?.close();
      this.#reader = undefined;
    }
  }

  #end(err?: unknown, pinned = false): void {
    if (pinned) this.#unpin();
    this.#busy = false;
    this.#paused = false;
    if (err !== undefined) this.#onError(err);
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }

  /**
   * The database is closing: whatever step is under way, both files are synced now and the WAL
   * unpinned, so no page of a checkpoint is left unsafe when SQLite's closing checkpoint restarts it.
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
    this.#paused = false;
    try {
      this.#reader?.close();
    } catch {
      // Already closed.
    }
    this.#reader = undefined;
    if (this.#shmFd !== undefined) close(this.#shmFd, () => {});
    this.#shmFd = undefined;
    if (this.#dbFd !== undefined) {
      const fd = this.#dbFd;
      this.#dbFd = undefined;
      // A sync under way still holds the file; closing the descriptor after it is harmless.
      close(fd, () => {});
    }
  }
}
