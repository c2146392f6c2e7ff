/**
 * The sidecar as the webhook starts it: from the V8 startup snapshot (`SIDECAR_COMMAND`,
 * src/cli/snapshot.ts), built by `npm run build` into dist/. With the webhook's own args and
 * environment: it gets ready, takes a message over HTTP and delivers it to a real SMTP server
 * (nodemailer is loaded from node_modules at run time, outside the blob), reloads a rewritten
 * config file, reports its own start time in /metrics (not the build's), and stops cleanly on
 * SIGTERM. `--help` (which commander writes) runs the whole CLI. A blob another Node version built
 * is refused with a message, never run.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { freePort, post, simple } from '../support/sidecar-harness.ts';
import {
  injectedSidecar,
  repoRoot as root,
  upstreamAndConfig,
  withValues,
} from '../support/sidecar-injected.ts';
import { tempDir, waitFor } from '../support/sidecar-upstream.ts';

const injected = injectedSidecar();
const { command } = injected;
const env = { ...process.env, ...injected.env };

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

before(() => {
  const built = spawnSync(process.execPath, [join(root, 'scripts/build.ts')], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
});

it('starts from the snapshot as injected, delivers, reloads its config and stops on SIGTERM', {
  timeout: 60_000,
}, async () => {
  const { upstream, dir, config } = await upstreamAndConfig(cleanups);
  const [http, smtp, metrics] = [await freePort(), await freePort(), await freePort()];
  const args = withValues(injected.args, {
    '--config': config.path,
    '--data-dir': join(dir, 'queue'),
    '--http-listen': `127.0.0.1:${http}`,
    '--smtp-listen': `127.0.0.1:${smtp}`,
    '--metrics-listen': `127.0.0.1:${metrics}`,
  });
  // Started well after the blob was built, so that the build's time cannot pass for the start's.
  const age = Date.now() - statSync(join(root, 'dist/sidecar.blob')).mtimeMs;
  if (age < 3000) await new Promise((r) => setTimeout(r, 3000 - age));
  const started = Date.now();
  const child = spawn(process.execPath, [...command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));

  await waitFor(
    async () =>
      (await fetch(`http://127.0.0.1:${metrics}/readyz`).then(
        (r) => r.ok,
        () => false,
      )) || undefined,
    10_000,
    `ready: ${out}`,
  );
  const accepted = await post(http, simple(1, 'someone@example.org'));
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  await waitFor(() => upstream.received.length === 1 || undefined, 10_000, `the message delivered: ${out}`);
  assert.equal(upstream.received[0]!.mailFrom, 'no-reply@example.com');

  const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  const startTime = Number(/^\w*process_start_time_seconds(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1]);
  assert.ok(Math.abs(startTime * 1000 - started) < 1500, `process_start_time_seconds ${startTime}`);

  config.write('other@example.com');
  await waitFor(() => out.includes('"config reloaded"') || undefined, 10_000, `the config reloaded: ${out}`);
  assert.equal((await post(http, simple(2, 'someone@example.org'))).status, 202);
  await waitFor(() => upstream.received.length === 2 || undefined, 10_000, 'the second message delivered');
  assert.equal(upstream.received[1]!.mailFrom, 'other@example.com');

  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, out);
  assert.match(out, /"shutting down"/);
});

it('runs the whole CLI for what the snapshot does not read (help)', () => {
  const r = spawnSync(process.execPath, [...command, 'sidecar', '--help'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: mailroom sidecar/);
  assert.match(r.stdout, /--config <path>/);
});

it('refuses a blob another node binary built, with a message, and runs nothing', () => {
  // The blob's header names the Node version that built it: the same blob, as if another had.
  const blob = readFileSync(join(root, 'dist/sidecar.blob'));
  const version = Buffer.from(process.versions.node);
  const at = blob.indexOf(version);
  assert.ok(at >= 0 && at < 64, 'the version in the header');
  Buffer.from('1.0.0'.padEnd(version.length, '0')).copy(blob, at);
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  writeFileSync(join(tmp.dir, 'other.blob'), blob);
  const r = spawnSync(
    process.execPath,
    ['--snapshot-blob', join(tmp.dir, 'other.blob'), 'sidecar', '--help'],
    {
      env,
      encoding: 'utf8',
    },
  );
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /Failed to load the startup snapshot because it was built with/);
});
