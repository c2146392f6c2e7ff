/**
 * The sidecar's plumbing through `src/runtime/`: with `--metrics-listen`, the runtime's health
 * server answers `/healthz` (the queue answers a query) and `/readyz` (a config is loaded, with the
 * reason while it is not) beside `/metrics`; SIGTERM runs the runtime's graceful shutdown (exit 0).
 * A real sidecar process, its config file appearing after start as the kubelet's Secret volume does.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { renderFromFlags } from '../../src/sidecar/config.ts';
import { freePort, spawnSidecar } from '../support/sidecar-harness.ts';
import { tempDir, waitFor } from '../support/sidecar-upstream.ts';

const tmp = tempDir();
after(() => tmp.remove());

it('serves health, readiness and metrics on --metrics-listen, and shuts down cleanly on SIGTERM', async () => {
  const port = await freePort();
  const config = join(tmp.dir, 'config.json');
  const sc = await spawnSidecar([
    '--data-dir',
    join(tmp.dir, 'data'),
    '--config',
    config,
    '--metrics-listen',
    `127.0.0.1:${port}`,
  ]);
  try {
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, text: await r.text() };
    };
    await waitFor(
      async () => (await get('/healthz').catch(() => undefined))?.status === 200,
      10_000,
      'healthz',
    );
    assert.match((await get('/healthz')).text, /\[\+\] queue ok/);
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 503);
    assert.match(notReady.text, /\[-\] config failed: .+/);

    writeFileSync(
      config,
      JSON.stringify(
        renderFromFlags({ uri: 'smtp://127.0.0.1:9/?disable_starttls=true', from: 'a@example.com' }),
      ),
    );
    await waitFor(async () => (await get('/readyz')).status === 200, 15_000, 'ready once the config exists');
    assert.match((await get('/readyz')).text, /\[\+\] config ok/);
    const metrics = await get('/metrics');
    assert.match(metrics.text, /^mailroom_sidecar_process_resident_memory_bytes/m);
    assert.match(metrics.text, /^mailroom_sidecar_messages\{/m);
  } finally {
    const exit = once(sc.child, 'exit');
    sc.child.kill('SIGTERM');
    const [code] = (await exit) as [number | null];
    assert.equal(code, 0, sc.output.join(''));
    assert.match(sc.output.join(''), /"msg":"shutting down"/);
  }
});
