/**
 * Rate limiters decide how long a failed key waits before its next try. They are a separate,
 * injected interface (as in client-go's `workqueue.TypedRateLimiter`), so the queue stays a queue.
 *
 * @module
 */

/** Decides the delay of a key's next try and forgets it once the key succeeds. */
export interface RateLimiter {
  /** Delay before the next try of `key`; each call counts as one more failure. */
  when(key: string): number;
  /** Clears the failure history of `key` (call it after a success). */
  forget(key: string): void;
  /** Failures counted for `key` since the last {@link RateLimiter.forget}. */
  retries(key: string): number;
}

/** Options of {@link ExponentialRateLimiter}. */
export interface ExponentialOptions {
  /** Delay after the first failure. Default 1 s. */
  baseMs?: number;
  /** Longest delay. Default 5 min. */
  maxMs?: number;
  /** Random spread added to each delay, as a fraction (0.1 = up to +10%). Default 0. */
  jitter?: number;
  /** Source of randomness in [0, 1); tests pin it. */
  random?: () => number;
}

/**
 * Per-key exponential backoff: `base * 2^failures`, capped at `max`.
 *
 * @example
 * const rl = new ExponentialRateLimiter({ baseMs: 1000, maxMs: 300_000 });
 * rl.when('ns/a'); // 1000
 * rl.when('ns/a'); // 2000
 * rl.forget('ns/a');
 */
export class ExponentialRateLimiter implements RateLimiter {
  readonly #failures = new Map<string, number>();
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;

  constructor(opts: ExponentialOptions = {}) {
    this.#baseMs = opts.baseMs ?? 1000;
    this.#maxMs = opts.maxMs ?? 300_000;
    this.#jitter = opts.jitter ?? 0;
    this.#random = opts.random ?? Math.random;
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2^failures overflows to Infinity long after the cap is reached; min() keeps it finite.
    const delay = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(failures, 52));
    return Math.min(this.#maxMs, Math.round(delay * (1 + this.#jitter * this.#random())));
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

/**
 * `interval` spread by ±`fraction` (0.1 = ±10%), so resources created together do not probe together.
 */
export function jittered(intervalMs: number, fraction = 0.1, random: () => number = Math.random): number {
  return Math.round(intervalMs * (1 - fraction + 2 * fraction * random()));
}
