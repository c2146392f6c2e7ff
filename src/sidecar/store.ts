/**
 * The durable queue's operations: enqueue, claim, payload, finish, sweep, views and purge, on one
 * SQLite database (built-in `node:sqlite`) on the data volume, in WAL mode, so a message whose
 * write has committed and been synced survives a crash of the process and of the machine. Writes
 * go through a {@link GroupCommitter}, which syncs the WAL off the event loop: front doors
 * acknowledge only when the promise of their insert resolves (after that sync).
 *
 * An attempt is recorded when a message is claimed, before it is sent: a message whose attempts
 * keep ending with the process gone (a poison message) is abandoned after `maxCrashes` of them.
 *
 * The file itself (opening it, late on a full disk; recovery at start; the swap to a fresh queue
 * when it turns corrupt; closing it) is {@link QueueFile}'s, in queue-file.ts. Seq numbers handed
 * out here are the file's plus {@link QueueFile.base}, so they stay unique across such a swap.
 *
 * @module
 */
import type { DatabaseSync } from 'node:sqlite';
import type { DiskGuard, Refusal } from './disk-guard.ts';
import type { GroupCommitter } from './group-commit.ts';
import { PayloadWriter, partRange } from './payload-writer.ts';
import { type CorruptQueue, QueueFile, type QueueFileOptions } from './queue-file.ts';
import { sweepStuck } from './store-recovery.ts';
import { PAYLOAD_PART } from './store-schema.ts';
import { prepareStatements, type QueueStatements } from './store-statements.ts';
import { type ListPage, type ListQuery, listMessages, messageViews } from './store-views.ts';
import type { ClaimedMessage, MessageState, MessageView, NewMessage, Outcome } from './types.ts';

export type { PayloadWriter } from './payload-writer.ts';
export type { CorruptQueue } from './queue-file.ts';
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

/** Options of a store: those of its queue file (see {@link QueueFileOptions}). */
export type StoreOptions = QueueFileOptions;

type Recipient = { n: number; address: string; state: string };

/** A claimed message's recipients still to send to, and how many were delivered before. */
function pendingAndDelivered(rows: Recipient[]): Pick<ClaimedMessage, 'pending' | 'delivered'> {
  const pending = rows.filter((r) => r.state === 'pending').map(({ n, address }) => ({ n, address }));
  return { pending, delivered: rows.filter((r) => r.state === 'sent').length };
}

/** A message whose payload was written into the queue as it arrived ({@link QueueStore.begin}). */
export type StreamedMessage = Omit<NewMessage, 'payload'> & { payload: PayloadWriter };

/**
 * Deletes payload parts that no message row owns: written by a message that was still arriving
 * when the process stopped. Best effort (a full disk leaves them for the next open).
 */
function dropOrphanParts(db: DatabaseSync): void {
  try {
    db.exec('DELETE FROM payloads WHERE seq NOT IN (SELECT seq FROM messages)');
  } catch {
    // The quota counts them meanwhile; nothing reads them.
  }
}

/**
 * A UUID whose first 48 bits are the time in ms (RFC 9562 version 7), the rest random (from `v4`,
 * a random UUID). Ids taken at about the same time sort together, so the index on `id` gets its
 * new entries on the same page: a batch of 20 new messages wrote 40 pages into the WAL with random
 * ids, 23 with these.
 */
export function timeOrderedId(v4: string, now: number): string {
  const t = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  return `${t.slice(0, 8)}-${t.slice(8)}-7${v4.slice(15, 18)}-${v4.slice(19)}`;
}

/** The SQLite-backed queue. One instance per data directory and process. */
export class QueueStore {
  readonly #file: QueueFile;
  #s!: QueueStatements;
  /** The next message's seq in the open file: reserved when its payload starts arriving. */
  #nextSeq = 1;

  /** Opens (creating when needed) `<dataDir>/queue.db` and recovers interrupted deliveries. */
  constructor(dataDir: string, opts: StoreOptions = {}) {
    this.#file = new QueueFile(dataDir, opts, (db) => {
      this.#s = prepareStatements(db);
      dropOrphanParts(db);
      const max = db
        .prepare(
          'SELECT max(coalesce((SELECT max(seq) FROM messages), 0), coalesce((SELECT max(seq) FROM payloads), 0)) AS m',
        )
        .get() as { m: number };
      this.#nextSeq = max.m + 1;
    });
  }

  /** Messages that were in `sending` when the store opened (their process stopped mid-delivery). */
  get recovered(): number {
    return this.#file.recovered;
  }

  /** Of those, messages abandoned because too many of their attempts ended in a crash. */
  get poisoned(): number {
    return this.#file.poisoned;
  }

  /** Why the queue file is not open yet (a full disk at start), or undefined once it is. */
  get opening(): string | undefined {
    return this.#file.opening;
  }

  /** Where a corrupt or unreadable queue file was moved at open, if one was, and why. */
  get movedAside(): CorruptQueue | undefined {
    return this.#file.movedAside;
  }

  /** Told when the queue file opened, or its interrupted deliveries returned, after a start on a full disk. */
  get onOpened(): QueueFile['onOpened'] {
    return this.#file.onOpened;
  }
  set onOpened(f: QueueFile['onOpened']) {
    this.#file.onOpened = f;
  }

  /** Told when the queue file turned corrupt while running and a fresh queue took its place. */
  get onCorrupt(): QueueFile['onCorrupt'] {
    return this.#file.onCorrupt;
  }
  set onCorrupt(f: QueueFile['onCorrupt']) {
    this.#file.onCorrupt = f;
  }

  /** The open database (a fresh one after a corrupt file was moved aside). */
  get db(): DatabaseSync {
    return this.#file.db;
  }

  /** The group committer of the open database. */
  get committer(): GroupCommitter {
    return this.#file.committer;
  }

  /** The quota and full-disk guard of the open database. */
  get disk(): DiskGuard {
    return this.#file.disk;
  }

  /**
   * Stores a message; resolves once committed. Refused with {@link QueueRefusedError} at the quota
   * or on a full disk, with {@link IdempotencyConflictError} for a reused key and another message.
   */
  enqueue(msg: NewMessage | StreamedMessage, now = Date.now()): Promise<Enqueued> {
    if (this.opening !== undefined)
      return Promise.reject(new QueueRefusedError({ reason: 'DiskFull', message: this.opening }));
    if (msg.payload instanceof PayloadWriter) {
      const writer = msg.payload;
      const seq = this.#staged.get(writer);
      if (seq === undefined || seq.base !== this.#file.base)
        return Promise.reject(new Error('the queue file changed while the message arrived; try again'));
      return writer.commit(() => this.#insert(seq.seq, msg, writer.size, undefined, now));
    }
    const payload = msg.payload;
    const refusal = this.disk.check(payload.length);
    if (refusal) return Promise.reject(new QueueRefusedError(refusal));
    const seq = this.#nextSeq++;
    const done = this.disk.hold(payload.length);
    const write = this.#file.write(() => this.#insert(seq, msg, payload.length, payload, now));
    return write.finally(done).catch((err: unknown) => {
      throw this.#refusal(err);
    });
  }

  /** A full disk met by a write becomes a refusal ("try later"); anything else stays what it is. */
  #refusal(err: unknown): unknown {
    if (this.disk.onWriteError(err)) return new QueueRefusedError(this.disk.check(0)!);
    return err;
  }

  /** Writers begun on the open file, with the seq reserved for each (WeakMap: an abandoned one is let go). */
  #staged = new WeakMap<PayloadWriter, { seq: number; base: number }>();

  /**
   * Starts a message whose payload is written into the queue as it arrives (see payload-writer.ts):
   * write its bytes, then {@link QueueStore.enqueue} it with the writer as its payload, or abort it.
   */
  begin(): PayloadWriter {
    const file = this.#file;
    const base = file.base;
    const seq = this.#nextSeq++;
    const s = this.#s;
    const writer = new PayloadWriter({
      write: (op, durable) =>
        file.base === base
          ? file.write(op, durable)
          : Promise.reject(new Error('the queue file changed while the message arrived; try again')),
      insertPart: (part, data) => s.insertPayload!.run(seq, part, data),
      readPart: (part) => this.#readPart(s, seq, part),
      dropParts: () => s.dropOrphanPayload!.run(seq, seq),
      check: (bytes) => {
        if (this.opening !== undefined)
          return new QueueRefusedError({ reason: 'DiskFull', message: this.opening });
        const r = this.disk.check(bytes);
        return r ? new QueueRefusedError(r) : undefined;
      },
      hold: (bytes) => this.disk.hold(bytes),
      refusal: (err) => this.#refusal(err),
    });
    this.#staged.set(writer, { seq, base });
    return writer;
  }

  /**
   * Inside a batch: the message row and its recipients under `seq`, and its payload parts when
   * given (a streamed payload's parts are already there). A repeated idempotency key writes nothing.
   */
  #insert(
    seq: number,
    msg: Omit<NewMessage, 'payload'>,
    size: number,
    payload: Buffer | undefined,
    now: number,
  ): Enqueued {
    // node:crypto loads with the first message, not at start: an idle sidecar holds none of it (~4 MB).
    const { createHash, randomUUID } = process.getBuiltinModule('node:crypto');
    const id = timeOrderedId(randomUUID(), now);
    const recipients = JSON.stringify(msg.recipients);
    const index = `,${msg.recipients.map((r) => r.toLowerCase()).join(',')},`;
    // Only a keyed message is ever compared with another.
    let hash: string | null = null;
    if (msg.idempotencyKey !== undefined) {
      if (msg.fingerprint === undefined && payload === undefined)
        throw new Error('a streamed message with an idempotency key needs its fingerprint');
      hash =
        msg.fingerprint ??
        createHash('sha256').update(recipients).update('\0').update(payload!).digest('base64url');
    }
    const row = this.#s.insert!.get(
      seq,
      id,
      msg.idempotencyKey ?? null,
      hash,
      msg.door,
      msg.kind,
      recipients,
      index,
      msg.subject,
      size,
      now,
      now,
      now,
    ) as { seq: number } | undefined;
    if (!row) {
      if (payload === undefined) this.#s.dropOrphanPayload!.run(seq, seq);
      const existing = this.#s.byKey!.get(msg.idempotencyKey ?? '') as {
        id: string;
        body_hash: string | null;
      };
      if (existing.body_hash !== null && existing.body_hash !== hash)
        throw new IdempotencyConflictError(existing.id);
      return { id: existing.id, duplicate: true };
    }
    if (payload !== undefined) {
      for (let part = 0, at = 0; part === 0 || at < payload.length; part++, at += PAYLOAD_PART) {
        this.#s.insertPayload!.run(seq, part, payload.subarray(at, at + PAYLOAD_PART));
      }
    }
    msg.recipients.forEach((address, n) => {
      this.#s.insertRcpt!.run(seq, n, address);
    });
    return { id, duplicate: false };
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
    return this.#file.write(() => {
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
          seq: r.seq + this.#file.base,
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
    if (seq < this.#file.base) return undefined;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    let parts = 0;
    this.#file.read(() => {
      for (const row of this.#s.payload!.iterate(seq - this.#file.base) as Iterable<{ data: Uint8Array }>) {
        out.set(row.data.subarray(0, Math.max(0, size - at)), at);
        at += row.data.byteLength;
        parts++;
      }
    });
    return parts > 0 && at === size ? out : undefined;
  }

  #readPart(s: QueueStatements, seq: number, part: number): Buffer | undefined {
    const row = this.#file.read(() => s.payloadPart!.get(seq, part)) as { data: Uint8Array } | undefined;
    return row ? Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength) : undefined;
  }

  /**
   * The payload of a claimed message read a part at a time as it is consumed (so a large message is
   * never whole in memory); throws when the message is gone from the queue.
   */
  payloadParts(seq: number, size: number, start = 0, end = size): Generator<Buffer> {
    // Claimed from a queue file that was since moved aside as corrupt: its payload is gone with it.
    const base = this.#file.base;
    const s = this.#s;
    return partRange(start, end, (n) =>
      seq < base || this.#file.base !== base ? undefined : this.#readPart(s, seq - base, n),
    );
  }

  /** Records the outcome of the attempt a claim started; resolves once committed. */
  finish(seq: number, outcome: Outcome, now = Date.now()): Promise<void> {
    // An attempt claimed from a queue file that was since moved aside as corrupt: nothing to record.
    if (seq < this.#file.base) return Promise.resolve();
    const done = outcome.state !== 'deferred';
    const next = outcome.state === 'deferred' ? outcome.nextAttemptAt : now;
    const a = outcome.attempt;
    return this.#file.write(() => {
      const row = this.#s.finish!.get(
        outcome.state,
        next,
        now,
        outcome.configRevision,
        outcome.reason ?? null,
        seq - this.#file.base,
      ) as { attempts: number } | undefined;
      // Not in `sending`: the sweeper already returned it to the queue; this outcome is stale.
      if (!row) return;
      const at = seq - this.#file.base;
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
    const base = this.#file.base;
    const held = new Set([...live].filter((s) => s >= base).map((s) => s - base));
    return this.#file.write((db) => sweepStuck(db, before, held, now), false);
  }

  /** Earliest due time of a waiting message, or undefined when none waits. */
  nextDueAt(): number | undefined {
    const r = this.#file.read(() => this.#s.nextDue!.get()) as { due: number | null };
    return r.due ?? undefined;
  }

  /** When the oldest message not yet sent or abandoned was accepted (ms), or undefined when none waits. */
  oldestWaitingAt(): number | undefined {
    const r = this.#file.read(() => this.#s.oldestWaiting!.get()) as { at: number | null };
    return r.at ?? undefined;
  }

  /** One message with its recipients and attempts, or undefined. */
  get(id: string): MessageView | undefined {
    // Not "no such message": the message may well be in the file that could not be opened yet.
    if (this.opening !== undefined) throw new Error(this.opening);
    return this.#file.read(() => messageViews(this.db, `WHERE id = ?`, [id])[0]);
  }

  /** Messages newest first, filtered, paged by an opaque cursor. */
  list(q: ListQuery = {}): ListPage {
    return this.#file.read(() => listMessages(this.db, q));
  }

  /** Number of messages in each state. */
  counts(): Record<MessageState, number> {
    const out: Record<MessageState, number> = { queued: 0, sending: 0, sent: 0, deferred: 0, abandoned: 0 };
    const rows = this.#file.read(() => this.#s.counts!.all()) as Array<{ state: MessageState; n: number }>;
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /** Deletes finished messages (sent, abandoned) last updated before `before`; returns how many. */
  purge(before: number): Promise<number> {
    return this.#file.write(() => {
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
    this.#file.close();
  }
}
