import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Timers, WorkQueue } from './queue.ts';
import { ExponentialRateLimiter } from './rate-limiter.ts';

/** Timers that fire only when the test advances the clock. */
function fakeTimers() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      pending.delete(h as number);
    },
  };
  return {
    timers,
    pending: () => pending.size,
    advance(ms: number) {
      now += ms;
      for (const [id, t] of [...pending].sort(([, a], [, b]) => a.at - b.at)) {
        if (t.at <= now) {
          pending.delete(id);
          t.fn();
        }
      }
    },
  };
}

describe('WorkQueue', () => {
  test('de-duplicates keys and hands them out in order', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.length, 0);
  });

  test('never hands out a key that is being processed; replays it after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    assert.equal(q.length, 0, 'held back while processing');
    q.done(key!);
    assert.equal(q.length, 1, 'replayed once');
    assert.equal(await q.get(), 'a');
    q.done('a');
    assert.equal(q.length, 0);
  });

  test('a waiting worker gets a key as soon as it is added', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('a');
    assert.equal(await next, 'a');
    assert.equal(q.processing, 1);
  });

  test('addAfter keeps one wake-up per key; the latest call wins; add cancels it', () => {
    const ft = fakeTimers();
    const q = new WorkQueue({ timers: ft.timers });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    assert.equal(ft.pending(), 1);
    ft.advance(1000);
    assert.equal(q.length, 0, 'the replaced wake-up does not fire');
    ft.advance(4000);
    assert.equal(q.length, 1);
    q.addAfter('b', 1000);
    q.add('b');
    assert.equal(ft.pending(), 0);
    assert.equal(q.length, 2);
  });

  test('addRateLimited backs off exponentially until forget', () => {
    const ft = fakeTimers();
    const q = new WorkQueue({ timers: ft.timers, rateLimiter: new ExponentialRateLimiter() });
    assert.equal(q.addRateLimited('a'), 1000);
    assert.equal(q.addRateLimited('a'), 2000);
    assert.equal(q.addRateLimited('a'), 4000);
    assert.equal(q.retries('a'), 3);
    q.forget('a');
    assert.equal(q.addRateLimited('a'), 1000);
    q.remove('a');
    assert.equal(ft.pending(), 0);
  });

  test('shutDown wakes waiting workers and waits for in-flight keys', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    const waiting = q.get();
    let drained = false;
    const shut = q.shutDown().then(() => {
      drained = true;
    });
    assert.equal(await waiting, undefined);
    await Promise.resolve();
    assert.equal(drained, false, 'still processing a');
    q.done(key!);
    await shut;
    assert.equal(drained, true);
    q.add('b');
    assert.equal(await q.get(), undefined, 'no key after shutdown');
  });
});

test('delayed adds of many keys fire in due order from one timer, rescheduled ones at their last time', async () => {
  const ft = fakeTimers();
  const q = new WorkQueue({ timers: ft.timers });
  const delay = (i: number) => ((i * 7919) % 2000) + 1;
  for (let i = 0; i < 2000; i++) q.addAfter(`k${i}`, delay(i));
  for (let i = 0; i < 2000; i += 2) q.addAfter(`k${i}`, 5000 + i); // rescheduled: stale entries pile up
  assert.equal(ft.pending(), 1, 'one timer');
  assert.equal(q.scheduled, 2000);
  const take = async () => {
    const keys: string[] = [];
    while (q.length > 0) {
      const key = (await q.get())!;
      keys.push(key);
      q.done(key);
    }
    return keys;
  };
  ft.advance(2000);
  const odd = Array.from({ length: 1000 }, (_, j) => 2 * j + 1).sort((a, b) => delay(a) - delay(b));
  assert.deepEqual(
    await take(),
    odd.map((i) => `k${i}`),
    'the odd keys, in due order',
  );
  assert.equal(q.scheduled, 1000, 'the rescheduled even keys wait');
  ft.advance(5000);
  assert.deepEqual(
    await take(),
    Array.from({ length: 1000 }, (_, j) => `k${2 * j}`),
  );
  assert.equal(q.scheduled, 0);
  assert.equal(ft.pending(), 0, 'no timer left');
});
