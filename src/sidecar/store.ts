/**
 * The durable queue: one SQLite database (built-in `node:sqlite`) on the data volume, in WAL mode,
 * so a message whose write has committed and been synced survives a crash of the process and of
 * the machine. Writes go through a {@link GroupCommitter}, which syncs the WAL off the event loop:
 * front doors acknowledge only when the promise of their insert resolves (after that sync).
 *
 * An attempt is recorded when a message is claimed, before it is sent: a message whose attempts
 * keep ending with the process gone (a poison message) is abandoned after `maxCrashes` of them.
 *
 * A queue file that turns corrupt while the process runs is moved aside and a fresh queue takes
 * its place (see store-recovery.ts); the seq numbers the store hands out stay unique across such
 * a swap, so an attempt claimed from the old file can never be recorded on a message of the new one.
 *
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { DiskGuard, isDiskFull, type Refusal } from './disk-guard.ts';
import { type GroupCommitOptions, GroupCommitter, type WriteOp } from './group-commit.ts';
import { DEFAULT_MAX_CRASHES, DEFAULT_MAX_QUEUE_BYTES } from './limits.ts';
import { INTERRUPTED, isCorrupt, probeQueueFile, recoverInterrupted, sweepStuck } from './store-recovery.ts';
import {
  moveAside,
  type OpenedQueue,
  openQueueDb,
  PAYLOAD_PART,
  placeholderQueueDb,
} from './store-schema.ts';
import { type ListPage, type ListQuery, listMessages, messageViews } from './store-views.ts';
import type { ClaimedMessage, MessageState, MessageView, NewMessage, Outcome } from './types.ts';

export type { ListPage, ListQuery } from './store-views.ts';

/** Result of an enqueue: the id, and whether an earlier message with the same idempotency key won. */
export interface Enqueued {
  id: string;
  duplicate: boolean;
}

/** New mail refused: the queue is at its quota or its disk is full. Nothing was stored. */
export class QueueRefusedError extends Error {
  readonly reason: Refusal['reason'];
  constructor(r: Refusal) {
    super(r.message);
    this.name = 'QueueRefusedError';
    this.reason = r.reason;
  }
}

/** An idempotency key came back with a different message. */
export class IdempotencyConflictError extends Error {
  readonly id: string;
  constructor(id: string) {
    super(`this Idempotency-Key was used for another message (${id}); use a new key for a new message`);
    this.name = 'IdempotencyConflictError';
    this.id = id;
  }
}

export interface StoreOptions extends GroupCommitOptions {
  /** Quota on disk (`--max-queue-bytes`). */
  maxQueueBytes?: number;
  /** Spare file size kept for a full disk. */
  spareBytes?: number;
  /** Attempts ending in a crash before a message is abandoned; default 3. */
  maxCrashes?: number;
}

/** A queue file found corrupt while the process ran, and where it was moved. */
export interface CorruptQueue {
  path: string;
  problem: string;
}

/** Seq numbers of each fresh queue after a corrupt one start this far above the previous one's. */
const GENERATION = 2 ** 40;

type Recipient = { n: number; address: string; state: string };

/** A claimed message's recipients still to send to, and how many were delivered before. */
function pendingAndDelivered(rows: Recipient[]): Pick<ClaimedMessage, 'pending' | 'delivered'> {
  const pending = rows.filter((r) => r.state === 'pending').map(({ n, address }) => ({ n, address }));
  return { pending, delivered: rows.filter((r) => r.state === 'sent').length };
}

/** The SQLite-backed queue. One instance per data directory and process. */
export class QueueStore {
  /** Messages that were in `sending` when the store opened (their process stopped mid-delivery). */
  recovered = 0;
  /** Of those, messages abandoned because too many of their attempts ended in a crash. */
  poisoned = 0;
  /** Why the queue file is not open yet (a full disk at start), or undefined once it is. */
  opening: string | undefined;
  /** Told when the queue file opened, or its interrupted deliveries returned, after a start on a full disk. */
  onOpened: ((r: { recovered: number; poisoned: number }) => void) | undefined;
  /** Where a corrupt or unreadable queue file was moved at open, if one was, and why. */
  readonly movedAside: { path: string; problem: string } | undefined;
  /** Told when the queue file turned corrupt while running and a fresh queue took its place. */
  onCorrupt: ((e: CorruptQueue) => void) | undefined;
  readonly #dir: string;
  readonly #opts: StoreOptions;
  #db!: DatabaseSync;
  #committer!: GroupCommitter;
  #disk!: DiskGuard;
  #s!: Record<string, StatementSync>;
  /** Added to the file's seq numbers: a fresh queue after a corrupt one counts on from above. */
  #base = 0;
  #swapping = false;
  #closed = false;
  /** Rows left in `sending` by the last process wait to be returned to the queue (no room yet). */
  #unrecovered = false;
  readonly #probe: NodeJS.Timeout;

  /** Opens (creating when needed) `<dataDir>/queue.db` and recovers interrupted deliveries. */
  constructor(dataDir: string, opts: StoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.#dir = dataDir;
    this.#opts = opts;
    const opened = this.#tryOpen();
    if (opened) {
      if (opened.movedAside) this.movedAside = { path: opened.movedAside, problem: opened.problem ?? '' };
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
      const r = recoverInterrupted(this.db, this.#opts.maxCrashes ?? DEFAULT_MAX_CRASHES);
      this.recovered = r.recovered;
      this.poisoned = r.poisoned;
      return true;
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      this.disk.onWriteError(err);
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
    this.#open(opened.db);
    this.#unrecovered = !this.#recover();
    this.opening = undefined;
    if (opened.movedAside) this.onCorrupt?.({ path: opened.movedAside, problem: opened.problem ?? '' });
    this.onOpened?.({ recovered: this.recovered, poisoned: this.poisoned });
  }

  /** The open database (a fresh one after a corrupt file was moved aside). */
  get db(): DatabaseSync {
    return this.#db;
  }

  get committer(): GroupCommitter {
    return this.#committer;
  }

  get disk(): DiskGuard {
    return this.#disk;
  }

  #open(db: DatabaseSync): void {
    const opts = this.#opts;
    const old = this.#committer;
    this.#db = db;
    const mode = (db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
    this.#committer = new GroupCommitter(db, {
      ...opts,
      ...(mode === 'wal' ? { walPath: join(this.#dir, 'queue.db-wal') } : {}),
    });
    this.#disk = new DiskGuard(this.db, this.#dir, {
      maxQueueBytes: opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      ...(opts.spareBytes !== undefined ? { spareBytes: opts.spareBytes } : {}),
      busy: () => this.#committer.checkpointing,
    });
    this.#committer.onError = old?.onError ?? ((err) => this.disk.onWriteError(err));
    this.#committer.afterBatch = () => this.disk.changed();
    const p = (sql: string) => this.db.prepare(sql);
    this.#s = {
      insert:
        p(`INSERT INTO messages (id, idempotency_key, body_hash, door, kind, recipients, recipient_index,
          subject, size, state, next_attempt_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq`),
      insertPayload: p('INSERT INTO payloads (seq, part, data) VALUES (?, ?, ?)'),
      insertRcpt: p('INSERT INTO recipients (message_seq, n, address) VALUES (?, ?, ?)'),
      byKey: p('SELECT id, body_hash FROM messages WHERE idempotency_key = ?'),
      due: p(`SELECT seq, size, kind FROM messages WHERE state IN ('queued', 'deferred') AND next_attempt_at <= ?
        ORDER BY next_attempt_at, seq LIMIT ?`),
      claim: p(`UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ?
        WHERE seq = ? RETURNING seq, id, kind, size, attempts, created_at`),
      startAttempt: p(
        "INSERT OR REPLACE INTO attempts (message_seq, n, at, code, reply, duration_ms, state) VALUES (?, ?, ?, NULL, '', 0, 'started')",
      ),
      recipients: p('SELECT n, address, state FROM recipients WHERE message_seq = ? ORDER BY n'),
      payload: p('SELECT data FROM payloads WHERE seq = ? ORDER BY part'),
      finish:
        p(`UPDATE messages SET state = ?, next_attempt_at = ?, updated_at = ?, config_revision = ?, reason = ?
        WHERE seq = ? AND state = 'sending' RETURNING attempts`),
      endAttempt: p(
        "UPDATE attempts SET code = ?, reply = ?, duration_ms = ?, state = 'done' WHERE message_seq = ? AND n = ?",
      ),
      setRcpt: p(
        'UPDATE recipients SET state = ?, code = ?, reply = ?, updated_at = ? WHERE message_seq = ? AND n = ?',
      ),
      dropPayload: p('DELETE FROM payloads WHERE seq = ?'),
      nextDue: p("SELECT min(next_attempt_at) AS due FROM messages WHERE state IN ('queued', 'deferred')"),
      oldestWaiting: p(
        "SELECT min(created_at) AS at FROM messages WHERE state IN ('queued', 'deferred', 'sending')",
      ),
    };
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
      this.#open(openQueueDb(this.#dir).db);
    } catch {
      // No fresh queue yet (a full disk, say): writes are refused meanwhile; try again shortly.
      const again = path;
      setTimeout(() => this.#swap(problem, again), 1000).unref();
      return;
    }
    this.#swapping = false;
    this.onCorrupt?.({ path, problem });
  }

  /** Runs a read; an error that says the file is corrupt starts the swap to a fresh queue. */
  #read<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (isCorrupt(err)) this.#corrupt((err as Error).message);
      throw err;
    }
  }

  /** Queues a write (see {@link GroupCommitter.write}), watching it for a corrupt file. */
  #write<T>(op: WriteOp<T>, durable = true): Promise<T> {
    return this.#committer.write(op, durable).catch((err: unknown) => {
      if (isCorrupt(err)) this.#corrupt((err as Error).message);
      throw err;
    });
  }

  /**
   * Stores a message; resolves once committed. Refused with {@link QueueRefusedError} at the quota
   * or on a full disk, with {@link IdempotencyConflictError} for a reused key and another message.
   */
  enqueue(msg: NewMessage, now = Date.now()): Promise<Enqueued> {
    if (this.opening !== undefined)
      return Promise.reject(new QueueRefusedError({ reason: 'DiskFull', message: this.opening }));
    const refusal = this.disk.check(msg.payload.length);
    if (refusal) return Promise.reject(new QueueRefusedError(refusal));
    const id = randomUUID();
    const recipients = JSON.stringify(msg.recipients);
    const index = `,${msg.recipients.map((r) => r.toLowerCase()).join(',')},`;
    // Only a keyed message is ever compared with another.
    const hash =
      msg.idempotencyKey === undefined
        ? null
        : (msg.fingerprint ??
          createHash('sha256').update(recipients).update('\0').update(msg.payload).digest('base64url'));
    const done = this.disk.hold(msg.payload.length);
    const write = this.#write(() => {
      const row = this.#s.insert!.get(
        id,
        msg.idempotencyKey ?? null,
        hash,
        msg.door,
        msg.kind,
        recipients,
        index,
        msg.subject,
        msg.payload.length,
        now,
        now,
        now,
      ) as { seq: number } | undefined;
      if (!row) {
        const existing = this.#s.byKey!.get(msg.idempotencyKey ?? '') as {
          id: string;
          body_hash: string | null;
        };
        if (existing.body_hash !== null && existing.body_hash !== hash)
          throw new IdempotencyConflictError(existing.id);
        return { id: existing.id, duplicate: true };
      }
      const { payload } = msg;
      for (let part = 0, at = 0; part === 0 || at < payload.length; part++, at += PAYLOAD_PART) {
        this.#s.insertPayload!.run(row.seq, part, payload.subarray(at, at + PAYLOAD_PART));
      }
      msg.recipients.forEach((address, n) => {
        this.#s.insertRcpt!.run(row.seq, n, address);
      });
      return { id, duplicate: false };
    });
    return write.finally(done).catch((err: unknown) => {
      if (this.disk.onWriteError(err)) throw new QueueRefusedError(this.disk.check(0)!);
      throw err;
    });
  }

  /**
   * Moves due messages to `sending`, records an attempt for each, and returns them without their
   * payloads: at most `limit` messages whose `cost` adds up to `maxCost` (the first one always,
   * when `atLeastOne`). Rides in the next group commit without an fsync: a claim lost to a power
   * cut only means the message is claimed again.
   */
  claim(
    limit: number,
    maxCost = Number.POSITIVE_INFINITY,
    cost: (size: number, kind: 'json' | 'raw') => number = () => 0,
    atLeastOne = true,
    now = Date.now(),
  ): Promise<ClaimedMessage[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.#write(() => {
      const due = this.#s.due!.all(now, limit) as Array<{ seq: number; size: number; kind: 'json' | 'raw' }>;
      const out: ClaimedMessage[] = [];
      let total = 0;
      for (const d of due) {
        const c = cost(d.size, d.kind);
        if (total + c > maxCost && !(atLeastOne && out.length === 0)) break;
        total += c;
        const r = this.#s.claim!.get(now, d.seq) as {
          seq: number;
          id: string;
          kind: 'json' | 'raw';
          size: number;
          attempts: number;
          created_at: number;
        };
        this.#s.startAttempt!.run(r.seq, r.attempts, now);
        out.push({
          seq: r.seq + this.#base,
          id: r.id,
          kind: r.kind,
          size: r.size,
          ...pendingAndDelivered(this.#s.recipients!.all(r.seq) as Recipient[]),
          attempts: r.attempts,
          createdAt: r.created_at,
        });
      }
      return out;
    }, false);
  }

  /**
   * The payload of a message (`size` bytes), read when it is sent, part by part into one buffer;
   * undefined once the message is done.
   */
  payload(seq: number, size: number): Buffer | undefined {
    // Claimed from a queue file that was since moved aside as corrupt: its payload is gone with it.
    if (seq < this.#base) return undefined;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    let parts = 0;
    this.#read(() => {
      for (const row of this.#s.payload!.iterate(seq - this.#base) as Iterable<{ data: Uint8Array }>) {
        out.set(row.data.subarray(0, Math.max(0, size - at)), at);
        at += row.data.byteLength;
        parts++;
      }
    });
    return parts > 0 && at === size ? out : undefined;
  }

  /** Records the outcome of the attempt a claim started; resolves once committed. */
  finish(seq: number, outcome: Outcome, now = Date.now()): Promise<void> {
    // An attempt claimed from a queue file that was since moved aside as corrupt: nothing to record.
    if (seq < this.#base) return Promise.resolve();
    const done = outcome.state !== 'deferred';
    const next = outcome.state === 'deferred' ? outcome.nextAttemptAt : now;
    const a = outcome.attempt;
    return this.#write(() => {
      const row = this.#s.finish!.get(
        outcome.state,
        next,
        now,
        outcome.configRevision,
        outcome.reason ?? null,
        seq - this.#base,
      ) as { attempts: number } | undefined;
      // Not in `sending`: the sweeper already returned it to the queue; this outcome is stale.
      if (!row) return;
      const at = seq - this.#base;
      this.#s.endAttempt!.run(a.code, a.reply, Math.round(a.durationMs), at, row.attempts);
      for (const r of outcome.recipients) this.#s.setRcpt!.run(r.state, r.code, r.reply, now, at, r.n);
      if (done) this.#s.dropPayload!.run(at);
    }, false);
  }

  /**
   * Returns to the queue messages in `sending` since before `before` that no send under way holds
   * (`live`): an outcome that could not be recorded leaves no row stuck. Returns how many.
   */
  sweep(before: number, live: ReadonlySet<number>, now = Date.now()): Promise<number> {
    const base = this.#base;
    const held = new Set([...live].filter((s) => s >= base).map((s) => s - base));
    return this.#write((db) => sweepStuck(db, before, held, now), false);
  }

  /** Earliest due time of a waiting message, or undefined when none waits. */
  nextDueAt(): number | undefined {
    const r = this.#read(() => this.#s.nextDue!.get()) as { due: number | null };
    return r.due ?? undefined;
  }

  /** When the oldest message not yet sent or abandoned was accepted (ms), or undefined when none waits. */
  oldestWaitingAt(): number | undefined {
    const r = this.#read(() => this.#s.oldestWaiting!.get()) as { at: number | null };
    return r.at ?? undefined;
  }

  /** One message with its recipients and attempts, or undefined. */
  get(id: string): MessageView | undefined {
    // Not "no such message": the message may well be in the file that could not be opened yet.
    if (this.opening !== undefined) throw new Error(this.opening);
    return this.#read(() => messageViews(this.db, `WHERE id = ?`, [id])[0]);
  }

  /** Messages newest first, filtered, paged by an opaque cursor. */
  list(q: ListQuery = {}): ListPage {
    return this.#read(() => listMessages(this.db, q));
  }

  /** Number of messages in each state. */
  counts(): Record<MessageState, number> {
    const out: Record<MessageState, number> = { queued: 0, sending: 0, sent: 0, deferred: 0, abandoned: 0 };
    const rows = this.#read(() =>
      this.db.prepare('SELECT state, count(*) AS n FROM messages GROUP BY state').all(),
    ) as Array<{ state: MessageState; n: number }>;
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /** Deletes finished messages (sent, abandoned) last updated before `before`; returns how many. */
  purge(before: number): Promise<number> {
    return this.#write(() => {
      const old = "SELECT seq FROM messages WHERE state IN ('sent', 'abandoned') AND updated_at < ?";
      this.db.prepare(`DELETE FROM attempts WHERE message_seq IN (${old})`).run(before);
      this.db.prepare(`DELETE FROM recipients WHERE message_seq IN (${old})`).run(before);
      this.db.prepare(`DELETE FROM payloads WHERE seq IN (${old})`).run(before);
      return Number(this.db.prepare(`DELETE FROM messages WHERE seq IN (${old})`).run(before).changes);
    }, false);
  }

  /**
   * Commits what waits and closes the database. Messages still in `sending` (their sends did not
   * finish in time) go back to the queue, their attempt marked interrupted but not counted as a crash.
   */
  close(): void {
    this.#closed = true;
    clearInterval(this.#probe);
    this.committer.close();
    try {
      this.db
        .prepare("UPDATE attempts SET state = 'interrupted', reply = ? WHERE state = 'started'")
        .run(INTERRUPTED);
      this.db.prepare("UPDATE messages SET state = 'queued' WHERE state = 'sending'").run();
    } catch {
      // A full disk: the rows return on the next start instead, counted as interrupted.
    }
    this.db.close();
  }
}
