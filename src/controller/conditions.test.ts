import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition } from '../api/emailsender.ts';
import { MAX_MESSAGE, removeCondition, setCondition } from './conditions.ts';

const clockAt = (iso: string) => ({ now: () => new Date(iso) });

test('adds a condition with observedGeneration and a second-precision time', () => {
  const out = setCondition(
    [],
    { type: 'Ready', status: 'True', reason: 'Verified', message: 'ok', observedGeneration: 3 },
    clockAt('2026-05-01T10:00:00.123Z'),
  );
  assert.deepEqual(out, [
    {
      type: 'Ready',
      status: 'True',
      observedGeneration: 3,
      lastTransitionTime: '2026-05-01T10:00:00Z',
      reason: 'Verified',
      message: 'ok',
    },
  ]);
});

test('lastTransitionTime moves only when the status flips', () => {
  const t0 = clockAt('2026-05-01T10:00:00Z');
  const t1 = clockAt('2026-05-01T11:00:00Z');
  let c: Condition[] = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
  c = setCondition(c, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t1);
  assert.equal(c[0]!.lastTransitionTime, '2026-05-01T10:00:00Z', 'new reason, same status');
  assert.equal(c[0]!.reason, 'B');
  c = setCondition(c, { type: 'Ready', status: 'True', reason: 'Verified', message: 'ok' }, t1);
  assert.equal(c[0]!.lastTransitionTime, '2026-05-01T11:00:00Z');
});

test('keeps a stable order and never mutates its input', () => {
  const clock = clockAt('2026-05-01T10:00:00Z');
  const input: Condition[] = [];
  let c = setCondition(input, { type: 'InsecureTLS', status: 'True', reason: 'X', message: '' }, clock);
  c = setCondition(c, { type: 'Foreign', status: 'True', reason: 'X', message: '' }, clock);
  c = setCondition(c, { type: 'Stalled', status: 'True', reason: 'X', message: '' }, clock);
  c = setCondition(c, { type: 'Ready', status: 'False', reason: 'X', message: '' }, clock);
  assert.deepEqual(
    c.map((x) => x.type),
    ['Ready', 'Stalled', 'InsecureTLS', 'Foreign'],
  );
  assert.deepEqual(input, []);
  assert.deepEqual(
    removeCondition(c, 'Stalled').map((x) => x.type),
    ['Ready', 'InsecureTLS', 'Foreign'],
  );
});

test('trims long messages', () => {
  const c = setCondition([], { type: 'Ready', status: 'False', reason: 'X', message: 'x'.repeat(5000) });
  assert.equal(c[0]!.message.length, MAX_MESSAGE);
});
