import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onShutdown } from './shutdown.ts';

test('runs cleanup once, then exits with the code; a hanging cleanup is cut by the timeout', async () => {
  const exits: number[] = [];
  let cleanups = 0;
  const shutdown = onShutdown(
    async () => {
      cleanups++;
    },
    { signals: [], exit: (c) => exits.push(c) },
  );
  await Promise.all([shutdown('test'), shutdown('again')]);
  assert.equal(cleanups, 1);
  assert.deepEqual(exits, [0]);

  const stuck: number[] = [];
  const hang = onShutdown(() => new Promise(() => {}), {
    signals: [],
    timeoutMs: 20,
    exit: (c) => stuck.push(c),
  });
  void hang('test');
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(stuck, [1]);
});

test('SIGTERM triggers the shutdown', async () => {
  const exits: number[] = [];
  const done = new Promise<void>((resolve) => {
    onShutdown(async () => {}, {
      signals: ['SIGTERM'],
      exit: (c) => {
        exits.push(c);
        resolve();
      },
    });
  });
  process.kill(process.pid, 'SIGTERM');
  await done;
  assert.deepEqual(exits, [0]);
});
