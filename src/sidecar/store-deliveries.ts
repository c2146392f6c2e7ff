/**
 * The queue's delivery side: claiming due messages (an attempt recorded at the claim, before the
 * send), reading a claimed message's payload back, recording the attempt's outcome, and returning
 * rows no send holds to the queue. Claims and outcomes are state changes: they ride in the next
 * group commit without an fsync (lost to a power cut, a message is only claimed or sent again).
 *
 * Seqs given out and taken back are the store's ({@link QueueFile.base} added): an attempt claimed
 * from a file since moved aside as corrupt finds nothing here and records nothing.
 *
 * @module
 */
import { PAYLOAD_PART } from './limits.ts';
import { partRange } from './payload-writer.ts';
import type { QueueFile } from './queue-file.ts';
import { sweepStuck } from './store-recovery.ts';
import type { QueueStatements } from './store-statements.ts';
import type { ClaimedMessage, Outcome } from './types.ts';

type Recipient = { n: number; address: string; state: string };

/** A claimed message's recipients still to send to, and how many were delivered before. */
function pendingAndDelivered(rows: Recipient[]): Pick<ClaimedMessage, 'pending' | 'delivered'> {
  const pending = rows.filter((r) => r.state === 'pending').map(({ n, address }) => ({ n, address }));
  return { pending, delivered: rows.filter((r) => r.state === 'sent').length };
}

/**
 * The recipients of a message's first attempt, from the JSON list in its row: only an outcome
 * changes a recipient's state, and no attempt has ended yet, so every one is pending. Saves a
 * query per claimed message (the recipients rows are read back for later attempts only).
 */
function firstAttempt(recipients: string): Pick<ClaimedMessage, 'pending' | 'delivered'> {
  const list = JSON.parse(recipients) as string[];
  return { pending: list.map((address, n) => ({ n, address })), delivered: 0 };
}

/** A payload of one part from its row, or undefined when the row is missing or short. */
function onePart(row: unknown, size: number): Buffer | undefined {
  const data = (row as { data: Uint8Array } | undefined)?.data;
  return data?.byteLength === size ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : undefined;
}

/** What a claim took, and when the next message still waiting is due (see {@link QueueStore.claimDue}). */
export interface Claim {
  messages: ClaimedMessage[];
  /** Looked up only when fewer than `limit` messages were claimed; undefined when none waits. */
  nextDueAt: number | undefined;
}

type ClaimRow = {
  seq: number;
  id: string;
  kind: 'json' | 'raw';
  size: number;
  attempts: number;
  created_at: number;
  recipients: string;
};

/** One payload part of the message under `seq` in the open file (`s` prepared on it), or undefined. */
export function readPart(file: QueueFile, s: QueueStatements, seq: number, part: number): Buffer | undefined {
  const row = file.read(() => s.payloadPart!.get(seq, part)) as { data: Uint8Array } | undefined;
  return row ? Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength) : undefined;
}

/** Claims, payloads and outcomes. One per store; `file` and `statements` give the open file's current ones. */
export class DeliveryRecords {
  readonly #file: QueueFile;
  readonly #s: () => QueueStatements;

  constructor(file: QueueFile, statements: () => QueueStatements) {
    this.#file = file;
    this.#s = statements;
  }

  /** See {@link QueueStore.claim}. */
  claim(
    limit: number,
    maxCost: number,
    cost: (size: number, kind: 'json' | 'raw') => number,
    atLeastOne: boolean,
    now: number,
  ): Promise<Claim> {
    if (limit <= 0) return Promise.resolve({ messages: [], nextDueAt: undefined });
    return this.#file.write(() => {
      const s = this.#s();
      const due = s.due!.all(now, limit) as Array<{ seq: number; size: number; kind: 'json' | 'raw' }>;
      const out: ClaimedMessage[] = [];
      let total = 0;
      for (const d of due) {
        const c = cost(d.size, d.kind);
        if (total + c > maxCost && !(atLeastOne && out.length === 0)) break;
        total += c;
        // The attempt is counted in the row (attempts, its time in updated_at); its own row is
        // written with the outcome, or as interrupted by whoever finds the message left in
        // `sending` (store-recovery.ts). A row written here and rewritten at the outcome cost a
        // statement and a page of the WAL more per claim.
        const r = s.claim!.get(now, d.seq) as ClaimRow;
        const { pending, delivered } =
          r.attempts === 1
            ? firstAttempt(r.recipients)
            : pendingAndDelivered(s.recipients!.all(r.seq) as Recipient[]);
        const m: ClaimedMessage = {
          seq: r.seq + this.#file.base,
          id: r.id,
          kind: r.kind,
          size: r.size,
          pending,
          delivered,
          attempts: r.attempts,
          createdAt: r.created_at,
        };
        // Read here, inside the claim's transaction: on its own, the read is a read transaction of
        // its own (locks on the WAL index, syscalls), 22-33 µs a message against ~5 here.
        if (r.size <= PAYLOAD_PART) {
          const payload = onePart(s.payloadPart!.get(r.seq, 0), r.size);
          if (payload) m.payload = payload;
        }
        out.push(m);
      }
      // Read here, not after the commit: a read on its own costs a read transaction (~30-50 µs
      // under load against ~6 here), and the worker asks after every claim short of its limit.
      const nextDueAt =
        out.length < limit ? ((s.nextDue!.get() as { due: number | null }).due ?? undefined) : undefined;
      return { messages: out, nextDueAt };
    }, false);
  }

  /** See {@link QueueStore.payload}. */
  payload(seq: number, size: number): Buffer | undefined {
    // Claimed from a queue file that was since moved aside as corrupt: its payload is gone with it.
    if (seq < this.#file.base) return undefined;
    // One part (every message up to PAYLOAD_PART): read with `get`, its bytes used as they come
    // (node:sqlite's iterator cost ~47 µs a message). A claim has usually read it already.
    if (size <= PAYLOAD_PART)
      return onePart(
        this.#file.read(() => this.#s().payloadPart!.get(seq - this.#file.base, 0)),
        size,
      );
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    let parts = 0;
    this.#file.read(() => {
      for (const row of this.#s().payload!.iterate(seq - this.#file.base) as Iterable<{ data: Uint8Array }>) {
        out.set(row.data.subarray(0, Math.max(0, size - at)), at);
        at += row.data.byteLength;
        parts++;
      }
    });
    return parts > 0 && at === size ? out : undefined;
  }

  /** See {@link QueueStore.payloadParts}. */
  payloadParts(seq: number, start: number, end: number): Generator<Buffer> {
    // Claimed from a queue file that was since moved aside as corrupt: its payload is gone with it.
    const file = this.#file;
    const base = file.base;
    const s = this.#s();
    return partRange(start, end, (n) =>
      seq < base || file.base !== base ? undefined : readPart(file, s, seq - base, n),
    );
  }

  /** See {@link QueueStore.finish}. */
  finish(seq: number, outcome: Outcome, now: number): Promise<void> {
    // An attempt claimed from a queue file that was since moved aside as corrupt: nothing to record.
    if (seq < this.#file.base) return Promise.resolve();
    const done = outcome.state !== 'deferred';
    const next = outcome.state === 'deferred' ? outcome.nextAttemptAt : now;
    const a = outcome.attempt;
    return this.#file.write(() => {
      const s = this.#s();
      const at = seq - this.#file.base;
      const ms = Math.round(a.durationMs);
      const reason = outcome.reason ?? null;
      let row: { recipients: number } | undefined;
      if (done) {
        const r = s.finishFinal!.get(
          outcome.state,
          now,
          outcome.configRevision,
          reason,
          a.code,
          a.reply,
          ms,
          at,
        );
        row = r as typeof row;
      } else if (s.recordAttempt!.run(a.code, a.reply, ms, at).changes > 0) {
        row = s.finish!.get(outcome.state, next, now, outcome.configRevision, reason, at) as typeof row;
      }
      // Not in `sending`: the sweeper already returned it to the queue; this outcome is stale.
      if (!row) return;
      // Every recipient ended as the message did, with the attempt's reply (a message sent to all
      // at once): no rows, the view reads them from the message and its last attempt; rows an
      // earlier attempt left go. Writing them cost ~3 WAL pages a commit of 6 such messages.
      const rs = outcome.recipients;
      if (
        done &&
        rs.length === row.recipients &&
        rs.every((r) => r.state === outcome.state && r.code === a.code && r.reply === a.reply)
      )
        s.dropRcpts!.run(at);
      else for (const r of rs) s.setRcpt!.run(r.n, r.state, r.code, r.reply, now, at);
      if (done) s.dropPayload!.run(at);
    }, false);
  }

  /** See {@link QueueStore.sweep}. */
  sweep(before: number, live: ReadonlySet<number>, now: number): Promise<number> {
    const base = this.#file.base;
    const held = new Set([...live].filter((s) => s >= base).map((s) => s - base));
    return this.#file.write((db) => sweepStuck(db, before, held, now), false);
  }
}
