/**
 * A byte budget: how many bytes of messages may be held in memory at once. The front doors reserve
 * as a message arrives and the worker reserves before it reads a payload from the queue, so memory
 * is bounded by configuration, not by traffic. A reservation is refused when it does not fit, except
 * that an idle budget always admits one holder: a message larger than the whole budget is still
 * accepted and delivered, one at a time.
 *
 * @module
 */

/**
 * A counter of reserved bytes with a ceiling.
 *
 * @example
 * const b = new ByteBudget(32 << 20);
 * if (b.tryReserve(n)) try { … } finally { b.release(n); }
 */
export class ByteBudget {
  readonly limit: number;
  #used = 0;
  #holders = 0;
  /** Reservations refused so far (for metrics). */
  refused = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** Reserves `bytes` when they fit (or when nothing is reserved); returns whether it did. */
  tryReserve(bytes: number): boolean {
    if (this.#holders > 0 && this.#used + bytes > this.limit) {
      this.refused++;
      return false;
    }
    this.#used += bytes;
    this.#holders++;
    return true;
  }

  /** Reserves `bytes` whether they fit or not (the caller already checked against {@link ByteBudget.free}). */
  reserve(bytes: number): void {
    this.#used += bytes;
    this.#holders++;
  }

  /** Bytes still free, and whether nothing is reserved (an idle budget admits any one holder). */
  get free(): number {
    return Math.max(0, this.limit - this.#used);
  }

  get idle(): boolean {
    return this.#holders === 0;
  }

  /** Adds `bytes` to an existing reservation when they fit; the holder count is unchanged. */
  tryGrow(bytes: number): boolean {
    if (this.#used + bytes > this.limit && this.#holders > 1) {
      this.refused++;
      return false;
    }
    this.#used += bytes;
    return true;
  }

  /** Gives back `bytes` of one holder's reservation; `done` when that holder holds nothing more. */
  release(bytes: number, done = true): void {
    this.#used = Math.max(0, this.#used - bytes);
    if (done) this.#holders = Math.max(0, this.#holders - 1);
  }
}
