/**
 * Config reload under load, with the kubelet's atomic `..data` symlink swap: every message arrives
 * exactly at the upstream of one config, carrying that config's sender and headers (never a mix);
 * a broken file in between keeps the old config and says so in /readyz.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import type { RenderedConfig } from '../../src/api/rendered-config.ts';
import { renderFromFlags } from '../../src/sidecar/config.ts';
import { post, testSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

/** Stands in for the uid of the Secret the controller would have read the config from. */
const TEST_REVISION_KEY = 'uid-of-the-smtp-secret';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function rendered(port: number, tag: string): RenderedConfig {
  return renderFromFlags(
    {
      uri: `smtp://127.0.0.1:${port}/?disable_starttls=true`,
      from: `sender-${tag}@example.com`,
      fromName: `Sender ${tag}`,
      headers: { 'X-Config': tag },
    },
    TEST_REVISION_KEY,
  );
}

let generation = 0;
/** Publishes a file the way the kubelet does: new timestamped dir, new `..data` link renamed over the old. */
function publish(mount: string, text: string): void {
  const dir = `..gen_${++generation}`;
  mkdirSync(join(mount, dir));
  writeFileSync(join(mount, dir, 'config.json'), text);
  symlinkSync(dir, join(mount, '..data_tmp'));
  renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
}

it('swaps configs between messages under load, and keeps the old one when the new is broken', async () => {
  const a = await startUpstream();
  const b = await startUpstream();
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const mount = join(tmp.dir, 'mount');
  mkdirSync(mount);
  publish(mount, JSON.stringify(rendered(a.port, 'A')));
  symlinkSync('..data/config.json', join(mount, 'config.json'));
  const sc = await testSidecar(
    join(tmp.dir, 'data'),
    { path: join(mount, 'config.json') },
    { configPollMs: 5000 },
  );
  cleanups.push(() => sc.stop());
  const readyz = async () =>
    (await (await fetch(`http://127.0.0.1:${sc.httpPort}/readyz`)).json()) as {
      ready: boolean;
      config?: { from: string };
      problem?: string;
    };
  assert.equal((await readyz()).config?.from, 'sender-A@example.com');

  const TOTAL = 600;
  const ids: string[] = [];
  let sent = 0;
  const load = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < TOTAL) {
        const n = sent++;
        const r = await post(sc.httpPort, { to: 'user@example.org', subject: `reload ${n}`, text: 'x' });
        assert.equal(r.status, 202);
        ids.push(String(r.body.id));
        // Pace the load so the swaps fall in the middle of it.
        await new Promise((res) => setTimeout(res, 5));
      }
    }),
  );

  await waitFor(() => ids.length >= 150);
  publish(mount, '{"apiVersion": "mailroom.dev/v1alpha1", "kind": "SenderConfig", "smtp": ');
  const broken = await waitFor(async () => {
    const r = await readyz();
    return r.problem ? r : undefined;
  });
  assert.equal(broken.ready, true, 'still ready with the last good config');
  assert.match(broken.problem ?? '', /config was refused: .*not valid JSON; still delivering with revision/);
  assert.equal(broken.config?.from, 'sender-A@example.com');

  await waitFor(() => ids.length >= 300);
  publish(mount, JSON.stringify(rendered(b.port, 'B')));
  await waitFor(async () => (await readyz()).config?.from === 'sender-B@example.com');
  await load;

  await waitFor(() => a.received.length + b.received.length >= TOTAL, 30_000, 'all messages delivered');
  assert.ok(
    a.received.length > 0 && b.received.length > 0,
    `A got ${a.received.length}, B got ${b.received.length}`,
  );
  for (const [tag, up] of [
    ['A', a],
    ['B', b],
  ] as const) {
    for (const m of up.received) {
      assert.equal(m.mailFrom, `sender-${tag}@example.com`);
      assert.equal(m.headers.get('x-config'), tag);
      assert.match(m.headers.get('from') ?? '', new RegExp(`Sender ${tag}.*sender-${tag}@example\\.com`));
    }
  }
  const received = [...a.received, ...b.received].map(
    (m) => /<([0-9a-f-]{36})@/.exec(m.headers.get('message-id') ?? '')?.[1],
  );
  assert.equal(new Set(received).size, TOTAL, 'each message exactly once');
  assert.deepEqual(new Set(received), new Set(ids));
  assert.ok(sc.lines.some((l) => l.includes('config reloaded')));
});
