/**
 * Canonical JSON: object keys sorted (by code point), undefined members dropped. Two values that mean
 * the same serialise to the same text, which is what comparing a desired object with the stored one,
 * or hashing a config, needs.
 *
 * @module
 */

/** @example canonicalJson({ b: 1, a: undefined, c: { z: 1, y: 2 } }) // '{"b":1,"c":{"y":2,"z":1}}' */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([, x]) => x !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
