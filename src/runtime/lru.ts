/**
 * A map with a size cap that forgets its least recently used entry first. Anything keyed by input a
 * caller controls (a client address, a namespace named in a request) goes in one of these, so a
 * flood of new keys costs a constant amount of memory and O(1) per key — never a scan.
 *
 * @module
 */

/**
 * Least-recently-used map over a `Map` (whose iteration order is insertion order: a touched entry is
 * re-inserted at the end, so the first key is always the least recently used).
 *
 * @example
 * const seen = new LruMap<string, number>(2);
 * seen.set('a', 1); seen.set('b', 2); seen.get('a'); seen.set('c', 3);
 * seen.has('b'); // false: 'b' was the least recently used
 */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;
  /** Entries pushed out by the cap since creation (a flood shows here). */
  evicted = 0;

  /** @param max the most entries kept; at least 1. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`LruMap: max must be a whole number ≥ 1, not ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get max(): number {
    return this.#max;
  }

  /** The value, marking the entry as used. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, v);
    return v;
  }

  /** The value, without marking the entry as used. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Sets the value as the most recently used entry, evicting the least recently used one if full. */
  set(key: K, value: V): this {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value as K;
      this.#map.delete(oldest);
      this.evicted++;
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  /** Entries from least to most recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}
