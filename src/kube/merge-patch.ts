/**
 * JSON merge patches (RFC 7386) that turn one document into another. A merge patch only deletes a
 * field that it sets to `null`, so writing a status whose `config.desiredRevision` (or `endpoint`)
 * went away needs those nulls; arrays, such as `conditions`, are replaced whole.
 *
 * @module
 */

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The merge patch that turns `from` into `to`.
 *
 * @example
 * mergePatch({ a: 1, b: { c: 2, d: 3 } }, { a: 1, b: { c: 2 } }) // { b: { d: null } }
 */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to === undefined ? null : to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) {
    if (to[key] === undefined && from[key] !== undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    const old = from[key];
    if (isObject(old) && isObject(value)) {
      const sub = mergePatch(old, value) as Record<string, unknown>;
      if (Object.keys(sub).length > 0) patch[key] = sub;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}
