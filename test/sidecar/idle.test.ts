/**
 * What an idle sidecar holds: the injected sidecar should cost little beside the app it serves, so
 * what only a message needs loads with the first message, not at start (docs/sidecar.md quotes the
 * idle RSS). A real sidecar process started as injected (a mounted config file) with a reachable
 * plaintext upstream (it has been asked for SMTPUTF8 over EHLO) has not loaded nodemailer, smtp-server, node:tls or node:crypto,
 * nor built the EmailSender spec's schemas (src/api/emailsender.ts), nor loaded commander; one message
 * through the SMTP door loads them and is delivered. On SIGTERM, a client that stays connected to
 * the SMTP door gets `421` and is cut (the door, not smtp-server, accepts connections).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { type SidecarProcess, sidecarArgs, spawnSidecar } from '../support/sidecar-harness.ts';
import { upstreamAndConfig } from '../support/sidecar-injected.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const preload = fileURLToPath(new URL('../support/loaded-modules.ts', import.meta.url));

async function loaded(sc: SidecarProcess): Promise<{ builtins: string[]; files: string[] }> {
  const from = sc.output.length;
  sc.child.kill('SIGUSR2');
  const line = await waitFor(
    () =>
      sc.output
        .slice(from)
        .join('')
        .split('\n')
        .find((l) => l.startsWith('{"loadedModules"')),
    5000,
    'the loaded modules',
  );
  return (JSON.parse(line) as { loadedModules: { builtins: string[]; files: string[] } }).loadedModules;
}

it('loads the mail libraries, node:tls and node:crypto with the first message, not at start', {
  timeout: 60_000,
}, async () => {
  const { upstream, dir, config } = await upstreamAndConfig(cleanups);
  const sc = await spawnSidecar(['--config', config.path, '--data-dir', join(dir, 'queue')], {
    NODE_OPTIONS: `${SIDECAR_NODE_OPTIONS} --import ${preload}`,
  });
  cleanups.push(() => sc.kill('SIGKILL'));
  // The SMTPUTF8 question at config load has had its EHLO answer.
  await waitFor(
    async () => (await (await fetch(`http://127.0.0.1:${sc.httpPort}/readyz`)).ok) || undefined,
    5000,
    'ready',
  );
  await new Promise((r) => setTimeout(r, 500));

  const idle = await loaded(sc);
  // The rendered config needs From and the header rules, not the EmailSender spec's schemas.
  assert.ok(
    idle.files.some((f) => f.endsWith('/src/api/message-fields.ts')),
    'the hook sees our sources',
  );
  assert.ok(
    !idle.files.some((f) => f.endsWith('/src/api/emailsender.ts')),
    'the EmailSender schemas built by an idle sidecar',
  );
  // Its flags were read without commander (src/cli/sidecar-flags.ts).
  assert.deepEqual(
    idle.files.filter((f) => f.includes('/commander/')),
    [],
    'commander loaded by a sidecar whose flags read cleanly',
  );
  // fs/promises loads readline's interface and the REPL history (config-watcher.ts reads with node:fs).
  for (const b of ['tls', 'crypto', 'https', 'fs/promises'])
    assert.ok(!idle.builtins.includes(b), `node:${b} loaded by an idle sidecar`);
  for (const lib of ['/nodemailer/', '/smtp-server/'])
    assert.deepEqual(
      idle.files.filter((f) => f.includes(lib)),
      [],
      `${lib} loaded by an idle sidecar`,
    );

  const replies = await smtpSession(sc.smtpPort, [
    'EHLO app.example.org',
    'MAIL FROM:<app@example.org>',
    'RCPT TO:<someone@example.org>',
    'DATA',
    'Subject: first\r\n\r\nhello\r\n.',
  ]);
  assert.match(replies.at(-1)!, /^250 /, replies.join('\n'));
  await waitFor(() => upstream.received.length === 1 || undefined, 10_000, 'the message delivered');
  const busy = await loaded(sc);
  assert.ok(busy.builtins.includes('crypto'));
  assert.ok(busy.files.some((f) => f.includes('/smtp-server/')));
  assert.ok(busy.files.some((f) => f.includes('/nodemailer/')));
});

it('on SIGTERM, answers 421 to a client that stays connected to the SMTP door and cuts it', {
  timeout: 30_000,
}, async () => {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const sc = await spawnSidecar(sidecarArgs(tmp.dir, upstream.port));
  cleanups.push(() => sc.kill('SIGKILL'));
  const socket = connect(sc.smtpPort, '127.0.0.1');
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += String(d);
  });
  await waitFor(() => /^220 /m.test(got) || undefined, 5000, 'the greeting');
  const closed = once(socket, 'close');
  const t0 = Date.now();
  sc.child.kill('SIGTERM');
  await closed;
  assert.match(got, /^421 /m, got);
  assert.ok(Date.now() - t0 < 10_000, `cut after ${Date.now() - t0} ms`);
  await sc.kill();
  assert.equal(sc.child.exitCode, 0, sc.output.join(''));
});
