/**
 * Token buckets: a steady rate with room for a burst, one bucket per key (per client address, say),
 * the buckets themselves held in an {@link LruMap} so that a flood of new keys cannot grow memory.
 * Forgetting an idle key costs nothing: a bucket nobody used for `burst / rate` seconds is full again
 * anyway, and a new bucket starts full.
 *
 * @module
 */
import { LruMap } from './lru.ts';

/** A rate with a burst. */
export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Most tokens held (the largest burst); at least 1. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

function refill(b: Bucket, limit: RateLimit, now: number): void {
  if (now > b.at) b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
  b.at = now;
}

function check(limit: RateLimit): void {
  if (!(limit.perSecond > 0) || !(limit.burst >= 1))
    throw new RangeError(
      `rate limit: perSecond must be > 0 and burst ≥ 1 (got ${limit.perSecond}, ${limit.burst})`,
    );
}

/**
 * One bucket.
 *
 * @example
 * const events = new TokenBucket({ perSecond: 1, burst: 20 });
 * if (events.take()) send();
 */
export class TokenBucket {
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #bucket: Bucket;

  constructor(limit: RateLimit, now: () => number = Date.now) {
    check(limit);
    this.#limit = limit;
    this.#now = now;
    this.#bucket = { tokens: limit.burst, at: now() };
  }

  /** Takes one token; false (and takes nothing) when the bucket is empty. */
  take(): boolean {
    refill(this.#bucket, this.#limit, this.#now());
    if (this.#bucket.tokens < 1) return false;
    this.#bucket.tokens -= 1;
    return true;
  }
}

/** Options of {@link KeyedTokenBuckets}. */
export interface KeyedTokenBucketsOptions extends RateLimit {
  /** Keys remembered at most (least recently used forgotten first). Default 4096. */
  maxKeys?: number;
  now?: () => number;
}

/**
 * A bucket per key, in a capped LRU.
 *
 * @example
 * const perSource = new KeyedTokenBuckets({ perSecond: 100, burst: 200 });
 * const wait = perSource.take(req.socket.remoteAddress ?? '');
 * if (wait > 0) res.writeHead(429, { 'retry-after': String(Math.ceil(wait / 1000)) }).end();
 */
export class KeyedTokenBuckets {
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #buckets: LruMap<string, Bucket>;

  constructor(o: KeyedTokenBucketsOptions) {
    check(o);
    this.#limit = { perSecond: o.perSecond, burst: o.burst };
    this.#now = o.now ?? Date.now;
    this.#buckets = new LruMap(o.maxKeys ?? 4096);
  }

  /** Keys held now (at most `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token for `key`: 0 when allowed, else the milliseconds until a token is due. */
  take(key: string): number {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: this.#limit.burst, at: now };
      this.#buckets.set(key, b);
    }
    refill(b, this.#limit, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.#limit.perSecond) * 1000);
  }
}
