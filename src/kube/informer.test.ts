import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../runtime/logger.ts';
import { Informer, type KubeObject } from './informer.ts';
import { KubeApiError, type KubeRest } from './rest.ts';

const obj = (name: string, rv: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
  ...extra,
});

/** A scripted API server: each list and each watch answers from the script, in order. */
function fakeRest(script: {
  lists: Array<() => { items: KubeObject[]; rv: string }>;
  watches: Array<(emit: (ev: unknown) => void, query: Record<string, unknown>) => Promise<void>>;
}) {
  const calls: string[] = [];
  const rest = {
    async request(_m: string, _p: string, init: { query?: Record<string, unknown> }) {
      const next = script.lists.shift();
      if (!next) throw new Error('no more lists');
      const { items, rv } = next();
      calls.push(`list limit=${init.query?.limit}`);
      return { items, metadata: { resourceVersion: rv } };
    },
    async stream(
      _p: string,
      onLine: (o: unknown) => void,
      init: { query?: Record<string, unknown>; signal?: AbortSignal },
    ) {
      const next = script.watches.shift();
      calls.push(`watch rv=${init.query?.resourceVersion}`);
      if (!next)
        return new Promise<void>((_, reject) =>
          init.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
        );
      return next(onLine, init.query ?? {});
    },
  };
  return { rest: rest as unknown as KubeRest, calls };
}

test('lists, watches from the list version, relists on 410 and reports what vanished meanwhile', async () => {
  const { rest, calls } = fakeRest({
    lists: [
      () => ({ items: [obj('a', '1'), obj('b', '2')], rv: '10' }),
      () => ({ items: [obj('a', '1'), obj('c', '12')], rv: '20' }),
    ],
    watches: [
      async (emit) => {
        emit({ type: 'MODIFIED', object: obj('a', '11', { data: 'secret' }) });
        emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } });
        emit({ type: 'ERROR', object: { code: 410, metadata: {} } });
      },
    ],
  });
  const seen: string[] = [];
  const inf = new Informer<KubeObject>({
    rest,
    resource: { prefix: '/api/v1', plural: 'secrets' },
    log: createLogger({ level: 'silent' }),
    transform: (raw) => {
      const { metadata } = raw as KubeObject;
      return { metadata };
    },
  });
  inf.onChange((type, o) => seen.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`));
  await inf.start();
  for (let i = 0; i < 50 && inf.lists < 2; i++) await sleep(10);
  await inf.stop();
  assert.deepEqual(seen, ['add a@1', 'add b@2', 'update a@11', 'update a@1', 'add c@12', 'delete b@2']);
  assert.equal(calls[0], 'list limit=500');
  assert.equal(calls[1], 'watch rv=10');
  assert.equal(calls[2], 'list limit=500', 'relisted after 410');
  assert.equal(
    (inf.get('ns', 'a') as unknown as Record<string, unknown>).data,
    undefined,
    'transform ran first',
  );
});

test('retries a failing watch with backoff from the last version, without a relist', async () => {
  const { rest, calls } = fakeRest({
    lists: [() => ({ items: [obj('a', '1')], rv: '10' })],
    watches: [
      async (emit) => emit({ type: 'ADDED', object: obj('b', '11') }),
      async () => {
        throw new KubeApiError(0, 'Transport', 'connection refused');
      },
    ],
  });
  const inf = new Informer<KubeObject>({
    rest,
    resource: { prefix: '/api/v1', plural: 'secrets' },
    log: createLogger({ level: 'silent' }),
    transform: (raw) => raw as KubeObject,
  });
  await inf.start();
  await sleep(2400); // a watch that ends at once waits 1 s; a failed one backs off 1 s
  await inf.stop();
  assert.deepEqual(calls.slice(0, 4), ['list limit=500', 'watch rv=10', 'watch rv=11', 'watch rv=11']);
  assert.equal(inf.lists, 1);
  assert.ok(inf.synced);
});
