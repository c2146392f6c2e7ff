/**
 * A work queue of keys in the controller-runtime mould: a key waiting twice is queued once, a key is
 * never handed to two workers at once (an add during processing is replayed after `done`), delayed
 * adds keep one wake-up per key, and failures back off through an injected {@link RateLimiter}.
 *
 * Delayed adds share one timer over a min-heap of due times: every sender waits for its next probe,
 * and a Node timer per key (with its closure and timer list) costs ~250 bytes at 10,000 keys where
 * a heap entry costs ~60.
 *
 * The queue holds keys (`namespace/name`), never events: reconcilers are level-based and read the
 * current state themselves.
 *
 * @module
 */
import { ExponentialRateLimiter, type RateLimiter } from './rate-limiter.ts';

/** Timer functions and their clock, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds on a monotonic clock. */
  now(): number;
}

const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** Backoff for {@link WorkQueue.addRateLimited}. Default: exponential 1 s … 5 min. */
  rateLimiter?: RateLimiter;
  timers?: Timers;
}

/**
 * De-duplicating FIFO of keys with delayed and rate-limited adds.
 *
 * @example
 * const q = new WorkQueue();
 * q.add('ns/a'); q.add('ns/a');       // queued once
 * const key = await q.get();          // 'ns/a', now processing
 * q.add('ns/a');                      // remembered, not handed out while processing
 * q.done(key!);                       // queued again
 */
export class WorkQueue {
  readonly #queued = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys with a pending delayed add, and when it is due ({@link Timers.now}). */
  readonly #due = new Map<string, number>();
  /** Min-heap of wake-ups by `at`; entries whose `at` is no longer the key's due time are stale. */
  #heap: Array<{ key: string; at: number }> = [];
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  readonly #waiters: Array<(key: string | undefined) => void> = [];
  readonly #rateLimiter: RateLimiter;
  readonly #t: Timers;
  #shuttingDown = false;
  #idle: Array<() => void> = [];

  constructor(opts: WorkQueueOptions = {}) {
    this.#rateLimiter = opts.rateLimiter ?? new ExponentialRateLimiter();
    this.#t = opts.timers ?? realTimers;
  }

  /** Queues `key` now, replacing a pending delayed add of it. */
  add(key: string): void {
    this.#cancelTimer(key);
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /**
   * Queues `key` after `ms`. One wake-up per key: a later call replaces the pending one, so the last
   * reconcile's decision wins. An immediate {@link WorkQueue.add} cancels it.
   */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#t.now() + ms;
    this.#due.set(key, at);
    this.#heapPush({ key, at });
    // Keys rescheduled again and again leave stale entries behind: rebuild before they pile up.
    if (this.#heap.length > 2 * this.#due.size + 1024) this.#rebuild();
    if (at < this.#timerAt) this.#arm(at);
  }

  /** Queues `key` after the rate limiter's backoff for it (at most `capMs`); returns that delay. */
  addRateLimited(key: string, capMs = Number.POSITIVE_INFINITY): number {
    const delay = Math.min(capMs, this.#rateLimiter.when(key));
    this.addAfter(key, delay);
    return delay;
  }

  /** Ends backoff for `key` (call after a success). */
  forget(key: string): void {
    this.#rateLimiter.forget(key);
  }

  /** Failures of `key` since it was last forgotten. */
  retries(key: string): number {
    return this.#rateLimiter.retries(key);
  }

  /** Drops every trace of `key`: pending wake-up and backoff (the object was deleted). */
  remove(key: string): void {
    this.#cancelTimer(key);
    this.#rateLimiter.forget(key);
  }

  /** Waits for the next key; `undefined` once the queue is shut down. Pair with {@link WorkQueue.done}. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#pop();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, queues it again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
    if (this.#processing.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Keys waiting to be handed out (the `queue depth` metric). */
  get length(): number {
    return this.#queued.size;
  }

  /** Keys being processed now. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Keys with a pending delayed add. */
  get scheduled(): number {
    return this.#due.size;
  }

  /** Stops handing out keys, drops pending wake-ups, and resolves once in-flight keys are done. */
  shutDown(): Promise<void> {
    this.#shuttingDown = true;
    this.#due.clear();
    this.#disarm();
    for (const resolve of this.#waiters.splice(0)) resolve(undefined);
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#take(key);
      waiter(key);
    } else {
      this.#queued.add(key);
    }
  }

  #pop(): string | undefined {
    const next = this.#queued.values().next();
    if (next.done) return undefined;
    this.#queued.delete(next.value);
    this.#take(next.value);
    return next.value;
  }

  #take(key: string): void {
    this.#dirty.delete(key);
    this.#processing.add(key);
  }

  #cancelTimer(key: string): void {
    // Its heap entry turns stale and is skipped when it comes up; none left, no timer either.
    if (this.#due.delete(key) && this.#due.size === 0) this.#disarm();
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) this.#t.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#t.setTimeout(() => this.#wake(), Math.max(0, at - this.#t.now()));
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#t.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#heap = [];
  }

  /** Queues every key now due, then sleeps until the next one. */
  #wake(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#t.now();
    for (let top = this.#heap[0]; top; top = this.#heap[0]) {
      if (this.#due.get(top.key) !== top.at) {
        this.#heapPop();
        continue;
      }
      if (top.at > now) {
        this.#arm(top.at);
        return;
      }
      this.#heapPop();
      this.add(top.key);
    }
  }

  #rebuild(): void {
    this.#heap = [];
    for (const [key, at] of this.#due) this.#heapPush({ key, at });
  }

  #heapPush(entry: { key: string; at: number }): void {
    const h = this.#heap;
    let i = h.push(entry) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= entry.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = entry;
  }

  #heapPop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const c = l + 1 < h.length && h[l + 1]!.at < h[l]!.at ? l + 1 : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
