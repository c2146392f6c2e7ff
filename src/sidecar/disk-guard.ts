/**
 * Keeps the queue inside its quota and alive on a full disk.
 *
 * - **Quota.** What the queue holds on disk is counted as the database's pages in use plus the WAL
 *   file; a new message that would take it past `--max-queue-bytes` is refused ("try later").
 * - **Full disk.** A spare file (`queue.spare`) is kept beside the queue. When a write fails with
 *   SQLITE_FULL (ENOSPC), new mail is refused and the spare file is deleted, so the state changes
 *   of deliveries (small writes, mostly into pages freed by sent messages) still find room and
 *   everything already accepted is still delivered. Once the filesystem has room again the spare
 *   file is written back and acceptance resumes by itself.
 * - **Giving space back.** Pages freed by sent and abandoned messages are returned to the
 *   filesystem (incremental vacuum, then a checkpoint that truncates the WAL).
 *
 * @module
 */
import {
  close,
  closeSync,
  fsync,
  fsyncSync,
  openSync,
  rmSync,
  statfsSync,
  statSync,
  write,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { promisify } from 'node:util';

/** Why new mail is refused now. */
export type Refusal = { reason: 'QueueFull' | 'DiskFull'; message: string };

export interface DiskGuardOptions {
  /** Quota on what the queue holds (database pages in use plus WAL), bytes. */
  maxQueueBytes: number;
  /** Size of the spare file; default 8 MiB. */
  spareBytes?: number;
  /** While true, upkeep leaves the database alone: a checkpoint under way owns the WAL. */
  busy?: () => boolean;
}

const SQLITE_FULL = 13;

/** How long an estimate of {@link DiskGuard.used} may stand in for a measurement, ms. */
const REMEASURE_MS = 50;

/**
 * What one message's rows can add besides its payload (measured: 13 pages of 4 KiB written into
 * the WAL by a message alone in its transaction), with room to spare.
 */
const ROW_PAGES_BYTES = 64 * 1024;

type Pragma = 'page_count' | 'freelist_count' | 'page_size';

/**
 * Whether an error (a CommitError or node:sqlite's own) means the disk is full. node:sqlite puts
 * SQLITE_FULL in `errcode` for every statement, checkpoints and vacuum included (seen on a full tmpfs).
 */
export function isDiskFull(err: unknown): boolean {
  const e = err as { sqliteCode?: unknown; errcode?: unknown; code?: unknown } | undefined;
  if (e?.sqliteCode === SQLITE_FULL) return true;
  if (typeof e?.errcode === 'number' && (e.errcode & 0xff) === SQLITE_FULL) return true;
  return e?.code === 'ENOSPC';
}

/** Quota and full-disk state of one queue. */
export class DiskGuard {
  readonly maxQueueBytes: number;
  readonly #db: DatabaseSync;
  readonly #dir: string;
  readonly #spare: string;
  readonly #spareBytes: number;
  readonly #busy: () => boolean;
  #full = false;
  /** Bytes of messages accepted but not yet committed (counted against the quota). */
  #pending = 0;
  /** {@link DiskGuard.used} as last measured, when, and whether a write happened since. */
  #used = 0;
  #measuredAt = Number.NEGATIVE_INFINITY;
  #stale = true;
  /** What the writes since the last measurement can have added at most (see {@link DiskGuard.hold}). */
  #grown = 0;
  readonly #pragma: Record<Pragma, StatementSync>;
  /** Pages in use (page count less the free list), in one statement. */
  readonly #pagesInUse: StatementSync;
  readonly #pageSize: number;

  constructor(db: DatabaseSync, dataDir: string, o: DiskGuardOptions) {
    this.#db = db;
    this.#dir = dataDir;
    this.maxQueueBytes = o.maxQueueBytes;
    this.#spare = join(dataDir, 'queue.spare');
    this.#spareBytes = o.spareBytes ?? 8 * 1024 * 1024;
    this.#busy = o.busy ?? (() => false);
    this.#pragma = {
      page_count: db.prepare('PRAGMA page_count'),
      freelist_count: db.prepare('PRAGMA freelist_count'),
      page_size: db.prepare('PRAGMA page_size'),
    };
    this.#pagesInUse = db.prepare(
      'SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()) AS n',
    );
    // Fixed once the database exists (WAL mode cannot change it).
    this.#pageSize = this.#value('page_size');
    // Written off the main thread: 8 MiB and an fsync, written in line, held up start → ready by
    // 50-150 ms. The file exists at once; a disk that cannot take it still means "full".
    void this.#writeSpareInBackground();
  }

  /** True while the disk is full (new mail refused until the spare file is back). */
  get full(): boolean {
    return this.#full;
  }

  /** Bytes the queue holds: database pages in use plus the WAL file, measured now if anything was written since. */
  used(): number {
    if (!this.#stale) return this.#used;
    const pages = (this.#pagesInUse.get() as { n: number }).n;
    const wal = statSync(join(this.#dir, 'queue.db-wal'), { throwIfNoEntry: false })?.size ?? 0;
    this.#used = pages * this.#pageSize + wal;
    this.#measuredAt = performance.now();
    this.#stale = false;
    this.#grown = 0;
    return this.#used;
  }

  /**
   * {@link DiskGuard.used} for an acceptance check: the last measurement plus what the writes since
   * can have added, while that is recent (under {@link REMEASURE_MS}) and cannot refuse; else measured
   * now. A check after every message measured after every commit: at 200 messages a second, three
   * PRAGMAs and a stat per message were ~5% of the sidecar's busy time. A refusal is always decided
   * on a fresh measurement.
   */
  #usedForCheck(bytes: number): number {
    if (!this.#stale) return this.#used;
    const estimate = this.#used + this.#grown;
    const recent = performance.now() - this.#measuredAt < REMEASURE_MS;
    if (recent && estimate + this.#pending + bytes <= this.maxQueueBytes) return estimate;
    return this.used();
  }

  /** The database changed (a commit, a vacuum): {@link DiskGuard.used} is measured again. */
  changed(): void {
    this.#stale = true;
  }

  #value(name: Pragma): number {
    return (this.#pragma[name].get() as Record<Pragma, number>)[name];
  }

  /** Whether a message of `bytes` may be accepted now; undefined when it may. */
  check(bytes: number): Refusal | undefined {
    if (this.#full) {
      return { reason: 'DiskFull', message: 'the disk of the queue is full; try again later' };
    }
    if (this.#usedForCheck(bytes) + this.#pending + bytes > this.maxQueueBytes) {
      return {
        reason: 'QueueFull',
        message: `the queue is at its quota of ${this.maxQueueBytes} bytes (--max-queue-bytes); try again later`,
      };
    }
    return undefined;
  }

  /**
   * Counts bytes being committed against the quota until `done` is called; from then until the
   * next measurement, as what they can have added on disk: the payload in the WAL and again in the
   * database file, and the pages of the message's rows and indexes.
   */
  hold(bytes: number): () => void {
    this.#pending += bytes;
    return () => {
      this.#pending -= bytes;
      this.#grown += 2 * bytes + ROW_PAGES_BYTES;
    };
  }

  /** A write failed: on a full disk, refuse new mail and free the spare file for deliveries. */
  onWriteError(err: unknown): boolean {
    if (!isDiskFull(err)) return false;
    if (!this.#full) {
      this.#full = true;
      rmSync(this.#spare, { force: true });
    }
    return true;
  }

  /**
   * Periodic upkeep: gives freed pages back to the filesystem, and on a full disk resumes
   * acceptance once the spare file can be written again. Returns true when acceptance resumed.
   */
  tick(): boolean {
    this.#measuredAt = Number.NEGATIVE_INFINITY;
    this.changed();
    if (this.#busy()) return false;
    const free = this.#value('freelist_count');
    const pageSize = this.#pageSize;
    if (free * pageSize >= 4 * 1024 * 1024 || (this.#full && free > 0)) {
      // On a full disk the vacuum itself can fail (it writes through the WAL): the checkpoint first
      // empties the WAL file, and a failed step must not keep the room check below from running.
      // Vacuumed in steps of 1 MiB, each checkpointed, so the WAL never needs much room.
      const step = Math.max(1, Math.floor((1024 * 1024) / pageSize));
      for (let i = 0, left = free; left > 0 && i < 4096; i++, left -= step) {
        try {
          this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
          this.#db.prepare(`PRAGMA incremental_vacuum(${step})`).all();
        } catch (err) {
          if (!isDiskFull(err)) throw err;
          break;
        }
      }
      try {
        this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch (err) {
        if (!isDiskFull(err)) throw err;
      }
    }
    if (!this.#full) return false;
    const fs = statfsSync(this.#dir);
    // Room for the spare file and as much again for the next messages.
    if (fs.bavail * fs.bsize < 2 * this.#spareBytes) return false;
    if (!this.#writeSpare()) return false;
    this.#full = false;
    return true;
  }

  async #writeSpareInBackground(): Promise<void> {
    let fd: number | undefined;
    try {
      if (statSync(this.#spare, { throwIfNoEntry: false })?.size === this.#spareBytes) return;
      fd = openSync(this.#spare, 'w', 0o600);
      const chunk = Buffer.alloc(1024 * 1024);
      for (let left = this.#spareBytes; left > 0; left -= chunk.length) {
        await promisify(write)(fd, chunk, 0, Math.min(chunk.length, left));
      }
      await promisify(fsync)(fd);
    } catch {
      this.#full = true;
      rmSync(this.#spare, { force: true });
    } finally {
      if (fd !== undefined) close(fd, () => {});
    }
  }

  #writeSpare(): boolean {
    let fd: number | undefined;
    try {
      if (statSync(this.#spare, { throwIfNoEntry: false })?.size === this.#spareBytes) return true;
      fd = openSync(this.#spare, 'w', 0o600);
      const chunk = Buffer.alloc(1024 * 1024);
      for (let left = this.#spareBytes; left > 0; left -= chunk.length) {
        writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      }
      fsyncSync(fd);
      return true;
    } catch {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(this.#spare, { force: true });
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
