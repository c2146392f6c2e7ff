import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LruMap } from './lru.ts';

test('the least recently used entry goes first when the cap is reached', () => {
  const m = new LruMap<string, number>(3);
  m.set('a', 1).set('b', 2).set('c', 3);
  assert.equal(m.get('a'), 1); // a is now the most recent
  m.set('d', 4);
  assert.deepEqual(
    [...m.entries()].map(([k]) => k),
    ['c', 'a', 'd'],
  );
  assert.equal(m.has('b'), false);
  assert.equal(m.evicted, 1);
});

test('peek reads without refreshing; set of a present key refreshes without evicting', () => {
  const m = new LruMap<string, number>(2);
  m.set('a', 1).set('b', 2);
  assert.equal(m.peek('a'), 1);
  m.set('c', 3);
  assert.equal(m.has('a'), false, 'peek did not save a');
  m.set('b', 20);
  assert.equal(m.size, 2);
  assert.equal(m.evicted, 1);
  assert.deepEqual(
    [...m.entries()],
    [
      ['c', 3],
      ['b', 20],
    ],
  );
});

test('a flood of distinct keys keeps the size at the cap, in linear time', () => {
  const m = new LruMap<string, number>(4096);
  const started = process.cpuUsage();
  for (let i = 0; i < 200_000; i++) m.set(`ns-${i}/sender/${i}`, i);
  const cpuMs = (process.cpuUsage(started).user + process.cpuUsage(started).system) / 1000;
  assert.equal(m.size, 4096);
  assert.equal(m.evicted, 200_000 - 4096);
  assert.ok(cpuMs < 2000, `200k inserts took ${cpuMs} ms of CPU`);
});

test('the cap must be a whole number of at least 1', () => {
  assert.throws(() => new LruMap(0), /max must be a whole number ≥ 1, not 0/);
  assert.throws(() => new LruMap(1.5), RangeError);
});
