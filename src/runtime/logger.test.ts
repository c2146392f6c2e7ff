import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isoTime } from './logger.ts';

test('isoTime writes what pino.stdTimeFunctions.isoTime writes, without toISOString', () => {
  const times = [
    0,
    Date.UTC(1999, 11, 31, 23, 59, 59, 999),
    Date.UTC(2026, 0, 1, 0, 0, 0, 5),
    Date.UTC(2026, 10, 29, 20, 33, 28, 40),
    Date.UTC(2028, 1, 29, 9, 7, 3, 123),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  ];
  for (let i = 0; i < 1000; i++) times.push(Math.floor(Math.random() * Date.UTC(9999, 0, 1)));
  for (const t of times) assert.equal(isoTime(t), `,"time":"${new Date(t).toISOString()}"`);
});
