/**
 * A message's payload written into the queue part by part while it arrives, so that a door holds a
 * few parts of it in memory ({@link PAYLOAD_PART} each), never the whole message. The parts are
 * written in ordinary (not synced) batches under a seq number reserved for the message; the message
 * row, written last by {@link PayloadWriter.commit} in a durable batch, is what makes them a
 * message: its fsync covers the parts' earlier WAL frames too. Parts whose message row never came
 * (a transfer cut short, a refusal, a crash) are deleted: at once by {@link PayloadWriter.abort},
 * and at the next open for those a crash left behind (see store.ts).
 *
 * @module
 */
import { PAYLOAD_PART } from './limits.ts';

/** What a writer needs of the store: its write queue and its disk guard, for the file it began on. */
export interface PartSink {
  /** Runs `op` in the next batch of the file the writer began on; rejects once that file is gone. */
  write<T>(op: () => T, durable: boolean): Promise<T>;
  insertPart(part: number, data: Buffer): void;
  /** One part written before, read back. */
  readPart(part: number): Buffer | undefined;
  /** Deletes the parts written, unless the message row made them a message. */
  dropParts(): void;
  /** An error when `bytes` more may not be stored now (the quota, a full disk). */
  check(bytes: number): Error | undefined;
  /** Counts `bytes` being written against the quota until the returned function is called. */
  hold(bytes: number): () => void;
  /** Turns a failed write into the error a door reports (a full disk becomes a refusal). */
  refusal(err: unknown): unknown;
}

/**
 * Part buffers given back once SQLite has copied them, for the next part: a message near the size
 * limit would otherwise leave forty of them as garbage (memory outside the V8 heap until a GC).
 * A few are kept, not one per possible transfer: the pool stays resident once filled.
 */
const spare: Buffer[] = [];
const MAX_SPARE = 4;

/** A payload being written into the queue; see the module comment. */
export class PayloadWriter {
  readonly #sink: PartSink;
  /** Bytes received and not yet handed to a part write (less than a part). */
  #chunks: Buffer[] = [];
  #pending = 0;
  #part = 0;
  #size = 0;
  /** Part writes not yet settled, oldest first. */
  #inflight: Array<Promise<void>> = [];
  #error: unknown;
  #ended = false;
  #releaseDisk: Array<() => void> = [];
  /** The whole payload, once committed, when it was one part: the worker may send it as it is. */
  #whole: Buffer | undefined;

  constructor(sink: PartSink) {
    this.#sink = sink;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /** The whole payload when it was one part (written by {@link PayloadWriter.commit}); else undefined. */
  get whole(): Buffer | undefined {
    return this.#whole;
  }

  /** Why the payload cannot be stored (a full disk, the quota, a failed batch), once known. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Adds bytes (kept by reference until they are written: the caller must not reuse `chunk`).
   * Returns undefined while no part is being written, else a promise that resolves when it is:
   * the caller waits for it before it reads more. So a transfer holds one part being written and
   * one filling: with a second part in flight, six max-size messages arriving at once held 1.5 MB
   * more and their parts left more holes in the malloc heap.
   */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.#ended || this.#error !== undefined) return undefined;
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
    this.#size += chunk.length;
    while (this.#pending >= PAYLOAD_PART && this.#error === undefined)
      this.#writePart(this.#take(PAYLOAD_PART));
    return this.#inflight.length === 0 ? undefined : this.#inflight[0];
  }

  /** The first `n` bytes of what is pending, as one buffer. */
  #take(n: number): Buffer {
    const out = n === PAYLOAD_PART ? (spare.pop() ?? Buffer.allocUnsafe(n)) : Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#pending -= n;
    return out;
  }

  /** Checks the quota for `n` bytes and counts them; false (and the error kept) when refused. */
  #hold(n: number): boolean {
    const refused = this.#sink.check(n);
    if (refused) {
      this.#error ??= refused;
      return false;
    }
    this.#releaseDisk.push(this.#sink.hold(n));
    return true;
  }

  #writePart(data: Buffer): void {
    const part = this.#part++;
    if (!this.#hold(data.length)) return;
    const p: Promise<void> = this.#sink
      .write(() => {
        this.#sink.insertPart(part, data);
        // SQLite copied it: the buffer takes the next part (of any message).
        if (data.length === PAYLOAD_PART && spare.length < MAX_SPARE) spare.push(data);
      }, false)
      .then(
        () => undefined,
        (err: unknown) => {
          this.#error ??= this.#sink.refusal(err);
        },
      )
      .finally(() => {
        this.#inflight.splice(this.#inflight.indexOf(p), 1);
      });
    this.#inflight.push(p);
  }

  /**
   * Waits for every part, then writes the last one and runs `commit` (the message row) in one
   * durable batch: a message smaller than a part is one write, as if it had come whole. Resolves
   * once it is on disk. On any failure the parts are dropped and the error thrown.
   */
  async commit<T>(commit: () => T): Promise<T> {
    this.#ended = true;
    while (this.#inflight.length > 0) await this.#inflight[0];
    const part = this.#part;
    const last = this.#pending > 0 || part === 0 ? this.#take(this.#pending) : undefined;
    try {
      if (this.#error !== undefined) throw this.#error;
      if (last && !this.#hold(last.length)) throw this.#error;
      const out = await this.#sink.write(() => {
        if (last) this.#sink.insertPart(part, last);
        return commit();
      }, true);
      // Not a pooled part buffer (those are whole parts, written before): nothing reuses it.
      if (part === 0) this.#whole = last;
      return out;
    } catch (err) {
      this.#drop();
      throw this.#sink.refusal(err);
    } finally {
      for (const done of this.#releaseDisk.splice(0)) done();
    }
  }

  /**
   * The bytes from `start` to `end` of what was written so far, a part at a time: from the queue,
   * and the last part from memory.
   */
  async *read(start: number, end: number): AsyncGenerator<Buffer> {
    while (this.#inflight.length > 0) await this.#inflight[0];
    if (this.#error !== undefined) throw this.#error;
    const written = this.#part;
    yield* partRange(start, Math.min(end, this.#size), (n) =>
      n < written
        ? this.#sink.readPart(n)
        : n === written
          ? Buffer.concat(this.#chunks, this.#pending)
          : undefined,
    );
  }

  /** Gives the payload up: nothing more is written and what was is deleted. */
  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#chunks = [];
    this.#pending = 0;
    void Promise.all(this.#inflight).then(() => {
      for (const done of this.#releaseDisk.splice(0)) done();
      if (this.#part > 0) this.#drop();
    });
  }

  #drop(): void {
    // Best effort: parts left behind are deleted at the next open.
    this.#sink.write(() => this.#sink.dropParts(), false).catch(() => {});
  }
}

/**
 * The bytes from `start` to `end` of a payload stored in parts of {@link PAYLOAD_PART}, one part at
 * a time (views of each). Throws when a part is missing (the message is gone from the queue).
 */
export function* partRange(
  start: number,
  end: number,
  readPart: (n: number) => Buffer | undefined,
): Generator<Buffer> {
  for (let n = Math.floor(start / PAYLOAD_PART); n * PAYLOAD_PART < end; n++) {
    const data = readPart(n);
    if (!data)
      throw Object.assign(new Error('the message body is missing from the queue'), { responseCode: 554 });
    const from = Math.max(0, start - n * PAYLOAD_PART);
    const to = Math.min(data.length, end - n * PAYLOAD_PART);
    if (to > from) yield data.subarray(from, to);
  }
}
