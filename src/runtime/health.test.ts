import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter } from 'prom-client';
import { parseListen, startHttpServer } from './health.ts';
import { createRegistry, metricValue } from './metrics.ts';

test('parseListen reads host:port, :port and [v6]:port', () => {
  assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('[::1]:9090'), { host: '::1', port: 9090 });
  assert.throws(() => parseListen('8080'), /host:port or :port/);
});

test('serves /healthz, /readyz with named checks and /metrics from its registry', async () => {
  let ready: true | string = 'caches not synced';
  const registry = createRegistry();
  const things = new Counter({ name: 'mailroom_things_total', help: 'Things.', registers: [registry] });
  things.inc(3);
  const srv = await startHttpServer({
    listen: '127.0.0.1:0',
    healthz: [{ name: 'informers', check: () => true }],
    readyz: [{ name: 'cache', check: () => ready }],
    registry,
  });
  try {
    const health = await fetch(`${srv.url}/healthz`);
    assert.equal(health.status, 200);
    assert.match(await health.text(), /\[\+\] informers ok/);
    const notReady = await fetch(`${srv.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /\[-\] cache failed: caches not synced/);
    ready = true;
    assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, /mailroom_things_total 3/);
    assert.match(metrics, /process_resident_memory_bytes/);
    assert.equal((await fetch(`${srv.url}/nope`)).status, 404);
    assert.equal(await metricValue(registry, 'mailroom_things_total'), 3);
  } finally {
    await srv.close();
  }
});
