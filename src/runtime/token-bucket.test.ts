import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedTokenBuckets, TokenBucket } from './token-bucket.ts';

test('a bucket allows its burst, then its rate', () => {
  let now = 0;
  const b = new TokenBucket({ perSecond: 2, burst: 3 }, () => now);
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  now = 499;
  assert.equal(b.take(), false, 'not a whole token yet');
  now = 500;
  assert.equal(b.take(), true);
  now = 60_000;
  assert.deepEqual(
    [b.take(), b.take(), b.take(), b.take()],
    [true, true, true, false],
    'refills to the burst only',
  );
});

test('each key has its own bucket, and an empty one says how long to wait', () => {
  let now = 0;
  const k = new KeyedTokenBuckets({ perSecond: 10, burst: 2, now: () => now });
  assert.deepEqual([k.take('a'), k.take('a')], [0, 0]);
  assert.equal(k.take('a'), 100);
  assert.equal(k.take('b'), 0, 'another source is not limited by the first');
  now = 100;
  assert.equal(k.take('a'), 0);
});

test('a flood of new keys keeps at most maxKeys buckets', () => {
  const k = new KeyedTokenBuckets({ perSecond: 1, burst: 1, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) assert.equal(k.take(`10.0.${i >> 8}.${i & 255}`), 0);
  assert.equal(k.size, 100);
});

test('a limit that cannot be met is refused', () => {
  assert.throws(() => new TokenBucket({ perSecond: 0, burst: 1 }), /perSecond must be > 0/);
  assert.throws(() => new KeyedTokenBuckets({ perSecond: 1, burst: 0 }), RangeError);
});
