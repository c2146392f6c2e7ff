import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePatch } from './merge-patch.ts';

test('nulls removed fields, keeps unchanged ones out, replaces arrays whole', () => {
  assert.deepEqual(
    mergePatch(
      { endpoint: 'a:1', config: { revision: 'r1', desiredRevision: 'r2' }, conditions: [{ type: 'Ready' }] },
      { config: { revision: 'r1' }, conditions: [{ type: 'Ready' }, { type: 'Stalled' }] },
    ),
    {
      endpoint: null,
      config: { desiredRevision: null },
      conditions: [{ type: 'Ready' }, { type: 'Stalled' }],
    },
  );
  assert.deepEqual(mergePatch(undefined, { a: 1 }), { a: 1 });
  assert.deepEqual(mergePatch({ a: { b: 1 } }, { a: { b: 1 } }), {});
});

test('applying the patch (RFC 7386) yields the target', () => {
  const apply = (target: unknown, patch: unknown): unknown => {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
    const out: Record<string, unknown> =
      typeof target === 'object' && target !== null && !Array.isArray(target)
        ? { ...(target as object) }
        : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = apply(out[k], v);
    }
    return out;
  };
  const from = { a: 1, b: { c: [1, 2], d: 'x' }, e: 'gone' };
  const to = { a: 2, b: { c: [3] }, f: { g: true } };
  assert.deepEqual(apply(from, mergePatch(from, to)), to);
});
