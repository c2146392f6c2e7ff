/**
 * The fdatasyncs of the queue's WAL that make committed writes durable, off the event loop. The
 * group committer hands over each committed durable write with the number of its commit; an
 * fdatasync makes durable everything written to the file before it was called, so whichever sync
 * ends first settles every write committed before it started, even those of a sync that started
 * earlier and has not ended yet.
 *
 * Up to `maxSyncs` run at once: a message that commits while one is under way gets its own at
 * once rather than waiting for that one to end first. Traced at 200 POSTs a second (`npm run
 * bench:sidecar`), some of the slowest acknowledgements were a slow fsync (5-20 ms on a shared
 * disk) followed by the next message's own. The gain is modest, as the device still flushes one
 * request after another: a group committer alone at 200 durable writes a second on the shared
 * disk, one and two slots in alternating 2 s rounds, had a p99 of 13.8 / 8.5 / 11.6 ms with one
 * and 10.3 / 9.5 / 10.6 ms with two (three runs, load 2.3-4.7).
 *
 * @module
 */
import { close, closeSync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SyncFn } from './wal-checkpoint.ts';

/** A committed durable write: settled once on disk, rejected when that cannot be known. */
export interface Unsynced {
  settle: () => void;
  reject: (err: unknown) => void;
}

export interface WalSyncOptions {
  /** The fdatasync to use (`fs.fdatasync`, or a test's). */
  sync: SyncFn;
  /** fdatasyncs that may run at once. */
  maxSyncs: number;
  /** Told of a failed sync (or a WAL that could not be opened) and the writers it leaves unknown. */
  onFail: (cause: unknown, writers: Unsynced[]) => void;
  /** After each sync, unless closed: the committer commits what waits, or calls {@link WalSyncs.start}. */
  afterSync: () => void;
}

/** The WAL file's descriptor and the committed writes waiting for an fdatasync of it. */
export class WalSyncs {
  readonly #path: string;
  readonly #o: WalSyncOptions;
  #fd: number | undefined;
  /** Waiting writes, oldest first, each with the number of the commit that wrote it. */
  #waiting: Array<Unsynced & { commit: number }> = [];
  /** The last commit holding a durable write, and the last one a sync under way or done covers. */
  #lastCommit = 0;
  #coveredTo = 0;
  #running = 0;
  #closed = false;

  constructor(walPath: string, o: WalSyncOptions) {
    this.#path = walPath;
    this.#o = o;
  }

  /** Whether another sync may start now. */
  get free(): boolean {
    return this.#running < this.#o.maxSyncs;
  }

  /** A durable write of commit number `commit` (commits are numbered upwards) waits for a sync. */
  add(commit: number, w: Unsynced): void {
    this.#waiting.push({ commit, ...w });
    this.#lastCommit = commit;
  }

  /** Starts a sync for the writes committed so far that none covers, unless none may start. */
  start(): void {
    if (!this.free || this.#closed || this.#coveredTo >= this.#lastCommit) return;
    const upTo = this.#lastCommit;
    let fd: number;
    try {
      fd = this.fd();
    } catch (cause) {
      // Committed but not known to be on disk: the app is told it failed and sends again (a
      // duplicate at worst, never a loss).
      this.#o.onFail(cause, this.#take(upTo));
      return;
    }
    this.#coveredTo = upTo;
    this.#running++;
    this.#o.sync(fd, (err) => {
      this.#running--;
      const covered = this.#take(upTo);
      if (err) this.#o.onFail(err, covered);
      else for (const w of covered) w.settle();
      if (this.#closed) this.#closeFd();
      else this.#o.afterSync();
    });
  }

  #take(commit: number): Unsynced[] {
    let n = 0;
    while (n < this.#waiting.length && this.#waiting[n]!.commit <= commit) n++;
    return this.#waiting.splice(0, n);
  }

  /** The WAL file, opened once (the checkpoints sync it too). */
  fd(): number {
    if (this.#fd !== undefined) return this.#fd;
    const fd = openSync(this.#path, 'r+');
    // The WAL file's directory entry is on disk once, before the first acknowledgement relies on it.
    const dir = openSync(dirname(this.#path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    this.#fd = fd;
    return fd;
  }

  /** Refuses every waiting write with `err` (the file is being given up) and stops. */
  abort(err: Error): void {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.reject(err);
    this.#closeFd();
  }

  /** Syncs what waits at once, synchronously (the database closes next), and stops. */
  close(): void {
    this.#closed = true;
    const left = this.#waiting.splice(0);
    if (left.length > 0) {
      try {
        fdatasyncSync(this.fd());
        for (const w of left) w.settle();
      } catch (cause) {
        this.#o.onFail(cause, left);
      }
    }
    this.#closeFd();
  }

  #closeFd(): void {
    // A sync under way still uses the descriptor: the last one to end closes it.
    if (this.#fd === undefined || this.#running > 0) return;
    close(this.#fd, () => {});
    this.#fd = undefined;
  }
}
