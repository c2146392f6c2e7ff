/**
 * The durable queue's operations: enqueue, claim, payload, finish, sweep, views and purge, on one
 * SQLite database (built-in `node:sqlite`) on the data volume, in WAL mode, so a message whose
 * write has committed and been synced survives a crash of the process and of the machine. Writes
 * go through a {@link GroupCommitter}, which syncs the WAL off the event loop: front doors
 * acknowledge only when the promise of their insert resolves (after that sync).
 *
 * An attempt is counted in the message's row when it is claimed, before it is sent, and gets its
 * own row with its outcome (the one that finishes the message is kept in the message's row), or
 * as interrupted when the process stopped during it: a message whose
 * attempts keep ending with the process gone (a poison message) is abandoned after `maxCrashes`.
 *
 * The store is the one surface the doors and the worker use; the work is done in modules of one
 * concern each: new mail (store-intake.ts), claims, payloads and outcomes (store-deliveries.ts),
 * what the API and the page show (store-views.ts), and the file itself, opened late on a full
 * disk, recovered at start, swapped for a fresh queue when it turns corrupt (queue-file.ts). Seq
 * numbers handed out are the file's plus {@link QueueFile.base}, so they stay unique across a swap.
 *
 * @module
 */
import type { DatabaseSync } from 'node:sqlite';
import type { DiskGuard } from './disk-guard.ts';
import type { GroupCommitter } from './group-commit.ts';
import { whereId } from './message-id.ts';
import type { PayloadWriter } from './payload-writer.ts';
import { type CorruptQueue, QueueFile, type QueueFileOptions } from './queue-file.ts';
import { type Claim, DeliveryRecords } from './store-deliveries.ts';
import { type Enqueued, type IntakeTaker, MessageIntake, type StreamedMessage } from './store-intake.ts';
import { prepareStatements, type QueueStatements } from './store-statements.ts';
import { type ListPage, type ListQuery, listMessages, messageViews } from './store-views.ts';
import type { ClaimedMessage, MessageState, MessageView, NewMessage, Outcome } from './types.ts';

export type { PayloadWriter } from './payload-writer.ts';
export type { CorruptQueue } from './queue-file.ts';
export type { Claim } from './store-deliveries.ts';
export {
  type Enqueued,
  IdempotencyConflictError,
  type IntakeTaker,
  QueueRefusedError,
  type StreamedMessage,
} from './store-intake.ts';
export type { ListPage, ListQuery } from './store-views.ts';

/** Options of a store: those of its queue file (see {@link QueueFileOptions}). */
export type StoreOptions = QueueFileOptions;

/** The SQLite-backed queue. One instance per data directory and process. */
export class QueueStore {
  readonly #file: QueueFile;
  #s!: QueueStatements;
  readonly #intake: MessageIntake;
  readonly #deliveries: DeliveryRecords;

  /** Opens (creating when needed) `<dataDir>/queue.db` and recovers interrupted deliveries. */
  constructor(dataDir: string, opts: StoreOptions = {}) {
    this.#intake = new MessageIntake(
      () => this.#file,
      () => this.#s,
    );
    this.#file = new QueueFile(dataDir, opts, (db) => {
      this.#s = prepareStatements(db);
      this.#intake.opened(db);
    });
    this.#deliveries = new DeliveryRecords(this.#file, () => this.#s);
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
    return this.#intake.enqueue(msg, now);
  }

  /**
   * Who may take a new message straight into delivery as it is stored (the worker; see
   * {@link IntakeTaker}). Without one every message is queued and waits for a claim.
   */
  set taker(t: IntakeTaker | undefined) {
    this.#intake.taker = t;
  }

  /**
   * Starts a message whose payload is written into the queue as it arrives (see payload-writer.ts):
   * write its bytes, then {@link QueueStore.enqueue} it with the writer as its payload, or abort it.
   */
  begin(): PayloadWriter {
    return this.#intake.begin();
  }

  /**
   * Moves due messages to `sending`, counts an attempt for each, and returns them without their
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
    return this.claimDue(limit, maxCost, cost, atLeastOne, now).then((c) => c.messages);
  }

  /**
   * {@link QueueStore.claim}, and when fewer than `limit` messages were claimed, the earliest due
   * time of a message still waiting (undefined when none waits), read in the same transaction: the
   * worker sets its timer by it.
   */
  claimDue(
    limit: number,
    maxCost: number,
    cost: (size: number, kind: 'json' | 'raw') => number,
    atLeastOne: boolean,
    now = Date.now(),
  ): Promise<Claim> {
    return this.#deliveries.claim(limit, maxCost, cost, atLeastOne, now);
  }

  /**
   * The payload of a message (`size` bytes), read when it is sent, part by part into one buffer;
   * undefined once the message is done.
   */
  payload(seq: number, size: number): Buffer | undefined {
    return this.#deliveries.payload(seq, size);
  }

  /**
   * The payload of a claimed message read a part at a time as it is consumed (so a large message is
   * never whole in memory); throws when the message is gone from the queue.
   */
  payloadParts(seq: number, size: number, start = 0, end = size): Generator<Buffer> {
    return this.#deliveries.payloadParts(seq, start, end);
  }

  /**
   * Commits the claims and outcomes that wait, within the short window of a new message rather
   * than the state window: work waits on them (see {@link GroupCommitter.hurry}).
   */
  hurry(): void {
    this.#file.committer.hurry();
  }

  /** Records the outcome of the attempt a claim started; resolves once committed. */
  finish(seq: number, outcome: Outcome, now = Date.now()): Promise<void> {
    return this.#deliveries.finish(seq, outcome, now);
  }

  /**
   * Returns to the queue messages in `sending` since before `before` that no send under way holds
   * (`live`): an outcome that could not be recorded leaves no row stuck. Returns how many.
   */
  sweep(before: number, live: ReadonlySet<number>, now = Date.now()): Promise<number> {
    return this.#deliveries.sweep(before, live, now);
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
    const { where, args } = whereId(id);
    return this.#file.read(() => messageViews(this.db, where, args)[0]);
  }

  /** Messages newest first, filtered, paged by an opaque cursor. */
  list(q: ListQuery = {}): ListPage {
    return this.#file.read(() => listMessages(this.db, q));
  }

  /** Queue transactions committed since the store opened (each a batch of writes). */
  get commits(): number {
    return this.#file.commits;
  }

  /** Number of messages in each state. */
  counts(): Record<MessageState, number> {
    const out: Record<MessageState, number> = { queued: 0, sending: 0, sent: 0, deferred: 0, abandoned: 0 };
    const rows = this.#file.read(() => this.#s.counts!.all()) as Array<{ state: MessageState; n: number }>;
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /**
   * Deletes finished messages (sent, abandoned) last updated before `before`; returns how many.
   *
   * No index on `updated_at` (it cost 1.5 WAL pages a commit that finished messages, see
   * store-schema.ts): the rows are looked for among those below the first seq created at or after
   * `before`, a range of the table read in seq order. A message is created before its outcome, so
   * every row to delete was created before `before`; seqs follow creation but for messages that
   * were still arriving when a later one was stored, and such a row is deleted by a later run.
   */
  purge(before: number): Promise<number> {
    return this.#file.write(() => {
      const first = this.db
        .prepare('SELECT seq FROM messages WHERE created_at >= ? ORDER BY seq LIMIT 1')
        .get(before) as { seq: number } | undefined;
      const end = first?.seq ?? Number.MAX_SAFE_INTEGER;
      const old =
        "SELECT seq FROM messages WHERE seq < ? AND state IN ('sent', 'abandoned') AND updated_at < ?";
      this.db.prepare(`DELETE FROM attempts WHERE message_seq IN (${old})`).run(end, before);
      this.db.prepare(`DELETE FROM recipients WHERE message_seq IN (${old})`).run(end, before);
      this.db.prepare(`DELETE FROM payloads WHERE seq IN (${old})`).run(end, before);
      return Number(this.db.prepare(`DELETE FROM messages WHERE seq IN (${old})`).run(end, before).changes);
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
