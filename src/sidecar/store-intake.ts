/**
 * The queue's write path for new mail: a message stored whole ({@link MessageIntake.enqueue}) or
 * streamed into the queue as it arrives ({@link MessageIntake.begin}, then `enqueue` with its
 * writer), its row and payload parts written in one group commit, refused with "try
 * later" at the quota or on a full disk, and a repeated idempotency key answered with the first
 * message (or refused when the message differs).
 *
 * Seq numbers are reserved here when a payload starts arriving: the open file's, plus
 * {@link QueueFile.base}, so they stay unique across a swap to a fresh queue.
 *
 * @module
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Refusal } from './disk-guard.ts';
import { messageId } from './message-id.ts';
import { PayloadWriter } from './payload-writer.ts';
import type { QueueFile } from './queue-file.ts';
import { readPart } from './store-deliveries.ts';
import { PAYLOAD_PART } from './store-schema.ts';
import type { QueueStatements } from './store-statements.ts';
import type { ClaimedMessage, NewMessage } from './types.ts';

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

/**
 * Who may take a new message straight into delivery (the delivery worker). A message taken at
 * intake is stored as `sending` with its first attempt counted, in the transaction that stores it,
 * instead of `queued` and then claimed by a transaction of its own: that claim (the due query, the
 * row moved out of the due index and into `sending`, the payload read back) was ~10% of the
 * sidecar's CPU per message at the SMTP door (`npm run bench:sidecar`, profiled). It is sent only
 * once the message is durable, like a claimed one; a crash before its outcome finds it in `sending`
 * as it would a claimed one (store-recovery.ts).
 */
export interface IntakeTaker {
  /**
   * Inside the message's batch, before its row is written: whether the worker takes it (the
   * message under `seq` holds a send slot from now on). False when it goes to the queue instead.
   */
  take(seq: number, size: number, kind: NewMessage['kind'], now: number): boolean;
  /** A taken message is durable: send it. */
  taken(m: ClaimedMessage): void;
  /** A taken message will not come (a duplicate, a failed batch or fsync): its slot is free again. */
  dropped(seq: number, size: number, kind: NewMessage['kind']): void;
}

/** A message whose payload was written into the queue as it arrived ({@link MessageIntake.begin}). */
export type StreamedMessage = Omit<NewMessage, 'payload'> & { payload: PayloadWriter };

const changedFile = () => new Error('the queue file changed while the message arrived; try again');

/**
 * New mail into the queue. One per store; `statements` gives those of the open file, `file` the
 * store's queue file (a getter: the intake exists before the file, whose first open it is told of).
 */
export class MessageIntake {
  readonly #file: () => QueueFile;
  readonly #s: () => QueueStatements;
  /** The next message's seq in the open file: reserved when its payload starts arriving. */
  #nextSeq = 1;
  /** Writers begun on the open file, with the seq reserved for each (WeakMap: an abandoned one is let go). */
  #staged = new WeakMap<PayloadWriter, { seq: number; base: number }>();
  /** See {@link IntakeTaker}; none: every message is queued. */
  taker: IntakeTaker | undefined;

  constructor(file: () => QueueFile, statements: () => QueueStatements) {
    this.#file = file;
    this.#s = statements;
  }

  /**
   * A database was opened (at start, late after a full disk, fresh after a corrupt one): drops the
   * parts of messages that were still arriving when the last process stopped, and numbers new
   * messages on from the highest seq in it.
   */
  opened(db: DatabaseSync): void {
    dropOrphanParts(db);
    const max = db
      .prepare(
        'SELECT max(coalesce((SELECT max(seq) FROM messages), 0), coalesce((SELECT max(seq) FROM payloads), 0)) AS m',
      )
      .get() as { m: number };
    this.#nextSeq = max.m + 1;
  }

  /** See {@link QueueStore.enqueue}. */
  enqueue(msg: NewMessage | StreamedMessage, now: number): Promise<Enqueued> {
    const file = this.#file();
    if (file.opening !== undefined)
      return Promise.reject(new QueueRefusedError({ reason: 'DiskFull', message: file.opening }));
    const taking: Taking = { base: file.base };
    if (msg.payload instanceof PayloadWriter) {
      const writer = msg.payload;
      const seq = this.#staged.get(writer);
      if (seq === undefined || seq.base !== file.base) return Promise.reject(changedFile());
      const write = writer.commit(() => this.#insert(seq.seq, msg, writer.size, undefined, now, taking));
      return this.#handOver(write, taking, () => writer.whole);
    }
    const payload = msg.payload;
    const refusal = file.disk.check(payload.length);
    if (refusal) return Promise.reject(new QueueRefusedError(refusal));
    const seq = this.#nextSeq++;
    const done = file.disk.hold(payload.length);
    const write = file.write(() => this.#insert(seq, msg, payload.length, payload, now, taking));
    return this.#handOver(
      write.finally(done).catch((err: unknown) => {
        throw this.#refusal(err);
      }),
      taking,
      () => payload,
    );
  }

  /**
   * Once the message's write settles: a message the worker took goes to it (with its payload when
   * it is at hand), or its slot is given back when the write failed. The caller's promise settles
   * as the write did.
   */
  #handOver(write: Promise<Enqueued>, taking: Taking, payload: () => Buffer | undefined): Promise<Enqueued> {
    return write.then(
      (r) => {
        const m = taking.message;
        if (m) {
          const p = m.size <= PAYLOAD_PART ? payload() : undefined;
          if (p) m.payload = p;
          this.taker?.taken(m);
        }
        return r;
      },
      (err: unknown) => {
        if (taking.message) this.taker?.dropped(taking.message.seq, taking.message.size, taking.message.kind);
        throw err;
      },
    );
  }

  /** A full disk met by a write becomes a refusal ("try later"); anything else stays what it is. */
  #refusal(err: unknown): unknown {
    const disk = this.#file().disk;
    if (disk.onWriteError(err)) return new QueueRefusedError(disk.check(0)!);
    return err;
  }

  /** See {@link QueueStore.begin}. */
  begin(): PayloadWriter {
    const file = this.#file();
    const base = file.base;
    const seq = this.#nextSeq++;
    const s = this.#s();
    const writer = new PayloadWriter({
      write: (op, durable) => (file.base === base ? file.write(op, durable) : Promise.reject(changedFile())),
      insertPart: (part, data) => s.insertPayload!.run(seq, part, data),
      readPart: (part) => readPart(file, s, seq, part),
      dropParts: () => s.dropOrphanPayload!.run(seq, seq),
      check: (bytes) => {
        if (file.opening !== undefined)
          return new QueueRefusedError({ reason: 'DiskFull', message: file.opening });
        const r = file.disk.check(bytes);
        return r ? new QueueRefusedError(r) : undefined;
      },
      hold: (bytes) => file.disk.hold(bytes),
      refusal: (err) => this.#refusal(err),
    });
    this.#staged.set(writer, { seq, base });
    return writer;
  }

  /**
   * Inside a batch: the message row under `seq` (its recipients are the JSON list in it; each gets
   * a row of its own with its first outcome), and its payload parts when given (a streamed payload's parts are already there). A repeated idempotency key writes nothing.
   */
  #insert(
    seq: number,
    msg: Omit<NewMessage, 'payload'>,
    size: number,
    payload: Buffer | undefined,
    now: number,
    taking: Taking,
  ): Enqueued {
    const s = this.#s();
    // node:crypto loads with the first message, not at start: an idle sidecar holds none of it (~4 MB).
    const { createHash, randomUUID } = process.getBuiltinModule('node:crypto');
    const id = messageId(randomUUID(), now, seq);
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
    const taken = this.taker?.take(seq + taking.base, size, msg.kind, now) === true;
    if (taken)
      taking.message = {
        seq: seq + taking.base,
        id,
        kind: msg.kind,
        size,
        pending: msg.recipients.map((address, n) => ({ n, address })),
        delivered: 0,
        attempts: 1,
        createdAt: now,
        ...(msg.head ? { head: msg.head } : {}),
      };
    const row = s.insert!.get(
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
      taken ? 'sending' : 'queued',
      taken ? 1 : 0,
      now,
      now,
      now,
    ) as { seq: number } | undefined;
    if (!row) {
      // A repeated key: nothing was stored, nothing is sent.
      if (taken) {
        delete taking.message;
        this.taker?.dropped(seq + taking.base, size, msg.kind);
      }
      if (payload === undefined) s.dropOrphanPayload!.run(seq, seq);
      const existing = s.byKey!.get(msg.idempotencyKey ?? '') as {
        id: string;
        body_hash: string | null;
      };
      if (existing.body_hash !== null && existing.body_hash !== hash)
        throw new IdempotencyConflictError(existing.id);
      return { id: existing.id, duplicate: true };
    }
    if (payload !== undefined) {
      for (let part = 0, at = 0; part === 0 || at < payload.length; part++, at += PAYLOAD_PART) {
        s.insertPayload!.run(seq, part, payload.subarray(at, at + PAYLOAD_PART));
      }
    }
    return { id, duplicate: false };
  }
}

/** A message's enqueue: its file's base, and the message once the worker took it (see {@link IntakeTaker}). */
interface Taking {
  base: number;
  message?: ClaimedMessage;
}

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
