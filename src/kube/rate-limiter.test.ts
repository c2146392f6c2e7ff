import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExponentialRateLimiter, jittered } from './rate-limiter.ts';

test('backs off 1s, 2s, 4s … per key and caps at 5 min', () => {
  const rl = new ExponentialRateLimiter();
  assert.deepEqual(
    Array.from({ length: 5 }, () => rl.when('a')),
    [1000, 2000, 4000, 8000, 16000],
  );
  assert.equal(rl.when('b'), 1000, 'keys back off independently');
  for (let i = 0; i < 100; i++) rl.when('a');
  assert.equal(rl.when('a'), 300_000);
  assert.equal(rl.retries('a'), 106);
});

test('forget starts a key over', () => {
  const rl = new ExponentialRateLimiter({ baseMs: 10, maxMs: 1000 });
  rl.when('a');
  rl.when('a');
  rl.forget('a');
  assert.equal(rl.retries('a'), 0);
  assert.equal(rl.when('a'), 10);
});

test('jitter never exceeds the cap', () => {
  const rl = new ExponentialRateLimiter({ baseMs: 1000, maxMs: 1500, jitter: 0.5, random: () => 0.999 });
  assert.equal(rl.when('a'), 1500);
  assert.equal(rl.when('a'), 1500);
});

test('jittered spreads an interval by ±10%', () => {
  assert.equal(
    jittered(600_000, 0.1, () => 0),
    540_000,
  );
  assert.equal(
    jittered(600_000, 0.1, () => 0.5),
    600_000,
  );
  assert.equal(
    jittered(600_000, 0.1, () => 1),
    660_000,
  );
});
