/**
 * A work queue of keys in the controller-runtime mould: a key waiting twice is queued once, a key is
 * never handed to two workers at once (an add during processing is replayed after `done`), delayed
 * adds keep one wake-up per key, and failures back off through an injected {@link RateLimiter}.
 *
 * The queue holds keys (`namespace/name`), never events: reconcilers are level-based and read the
 * current state themselves.
 *
 * @module
 */
import { ExponentialRateLimiter, type RateLimiter } from './rate-limiter.ts';

/** Timer functions, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
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
  readonly #timers = new Map<string, unknown>();
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
    this.#cancelTimer(key);
    const handle = this.#t.setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    this.#timers.set(key, handle);
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
    return this.#timers.size;
  }

  /** Stops handing out keys, drops pending wake-ups, and resolves once in-flight keys are done. */
  shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const handle of this.#timers.values()) this.#t.clearTimeout(handle);
    this.#timers.clear();
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
    const handle = this.#timers.get(key);
    if (handle === undefined) return;
    this.#t.clearTimeout(handle);
    this.#timers.delete(key);
  }
}
