import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../runtime/logger.ts';
import { type EventNote, EventRecorder } from './events.ts';

const note: EventNote = { type: 'Warning', reason: 'Broken', note: 'x'.repeat(2000), action: 'Probe' };
const regarding = { apiVersion: 'v1', kind: 'Pod', name: 'web-1', namespace: 'shop' };

test('records Events with microsecond eventTime and a bounded note; a full backlog drops and counts', async () => {
  const sent: Array<{ path: string; body: Record<string, unknown> }> = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const rest = {
    async request<T>(_method: string, path: string, init?: { body?: unknown }): Promise<T> {
      await gate;
      sent.push({ path, body: init?.body as Record<string, unknown> });
      return undefined as T;
    },
  };
  const recorder = new EventRecorder({
    rest,
    instance: 'pod-a',
    log: createLogger({ level: 'silent' }),
    concurrency: 1,
    maxBacklog: 2,
    now: () => new Date('2026-01-02T03:04:05.678Z'),
  });
  for (let i = 0; i < 4; i++) recorder.record('mailroom.dev/test', regarding, note);
  assert.equal(recorder.dropped, 1); // one in flight, two queued, one dropped
  release();
  await recorder.flush();
  assert.equal(sent.length, 3);
  const { path, body } = sent[0]!;
  assert.equal(path, '/apis/events.k8s.io/v1/namespaces/shop/events');
  assert.equal(body.eventTime, '2026-01-02T03:04:05.678000Z');
  assert.equal(body.reportingController, 'mailroom.dev/test');
  assert.equal(body.reportingInstance, 'pod-a');
  assert.equal((body.note as string).length, 1024);
  assert.deepEqual(body.regarding, regarding);
  assert.match((body.metadata as { name: string }).name, /^web-1\.[0-9a-f]{16}$/);
});

test('a failing events API is counted, never thrown', async () => {
  const rest = {
    request: (): Promise<never> => Promise.reject(new Error('events API down')),
  };
  const recorder = new EventRecorder({ rest, instance: 'pod-a', log: createLogger({ level: 'silent' }) });
  recorder.record('mailroom.dev/test', regarding, note);
  await recorder.flush();
  assert.equal(recorder.failed, 1);
});
