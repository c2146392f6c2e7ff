/**
 * Outside implementations as upstream: Python's aiosmtpd (STARTTLS verified against the test CA,
 * and implicit TLS) and Postfix's smtp-sink (cleartext), so delivery does not only work against the
 * library it is tested with.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configFromFlags } from '../../src/sidecar/config.ts';
import { freePort, getMessage, post, testSidecar } from '../support/sidecar-harness.ts';
import { tempDir, testCA, waitFor } from '../support/sidecar-upstream.ts';

const procs: ChildProcess[] = [];
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const c of cleanups.reverse()) await c();
});

async function listening(port: number): Promise<void> {
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    15_000,
    `a peer on port ${port}`,
  );
}

describe('outside SMTP peers', () => {
  for (const mode of ['starttls', 'smtps'] as const) {
    it(`delivers to aiosmtpd over ${mode === 'starttls' ? 'verified STARTTLS' : 'implicit TLS'}`, {
      timeout: 60_000,
    }, async () => {
      const tmp = tempDir();
      cleanups.push(tmp.remove);
      const ca = await testCA();
      const leaf = await ca.issue({ names: ['localhost', '127.0.0.1'] });
      writeFileSync(join(tmp.dir, 'cert.pem'), leaf.cert);
      writeFileSync(join(tmp.dir, 'key.pem'), leaf.key);
      const port = await freePort();
      const tlsArgs =
        mode === 'starttls'
          ? ['--tlscert', join(tmp.dir, 'cert.pem'), '--tlskey', join(tmp.dir, 'key.pem')]
          : ['--smtpscert', join(tmp.dir, 'cert.pem'), '--smtpskey', join(tmp.dir, 'key.pem')];
      const out: string[] = [];
      const p = spawn(
        '/usr/bin/python3',
        [
          '-m',
          'aiosmtpd',
          '-n',
          '-l',
          `127.0.0.1:${port}`,
          '-c',
          'aiosmtpd.handlers.Debugging',
          'stdout',
          ...tlsArgs,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } },
      );
      procs.push(p);
      p.stdout?.on('data', (d: Buffer) => out.push(String(d)));
      p.stderr?.on('data', (d: Buffer) => out.push(String(d)));
      await listening(port);
      const uri =
        mode === 'starttls'
          ? `smtp://localhost:${port}/`
          : `smtps://127.0.0.1:${port}/?server_name=localhost`;
      const sc = await testSidecar(
        join(tmp.dir, 'data'),
        configFromFlags({
          uri,
          from: 'no-reply@example.com',
          ca: ca.cert,
          headers: { 'X-Peer': 'aiosmtpd' },
        }),
      );
      cleanups.push(() => sc.stop());
      const { body } = await post(sc.httpPort, {
        to: 'dan@example.org',
        subject: `to aiosmtpd ${mode}`,
        text: 'hello aiosmtpd',
      });
      const m = await waitFor(async () => {
        const v = await getMessage(sc.httpPort, String(body.id));
        return v.state === 'sent' || v.state === 'abandoned' ? v : undefined;
      }, 20_000);
      assert.equal(m.state, 'sent', JSON.stringify(m.attempts));
      await waitFor(() => out.join('').includes('hello aiosmtpd'), 10_000, 'aiosmtpd to print the message');
      const text = out.join('');
      assert.match(text, new RegExp(`Subject: to aiosmtpd ${mode}`));
      assert.match(text, /X-Peer: aiosmtpd/);
      assert.match(text, /From: no-reply@example\.com/);
    });
  }

  it('delivers to Postfix smtp-sink, which writes each message to a file', { timeout: 60_000 }, async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const port = await freePort();
    const dump = join(tmp.dir, 'dump');
    const { mkdirSync, chmodSync } = await import('node:fs');
    mkdirSync(dump);
    // smtp-sink drops to `nobody`, which must reach the dump directory.
    chmodSync(tmp.dir, 0o755);
    chmodSync(dump, 0o777);
    const p = spawn('/usr/sbin/smtp-sink', ['-u', 'nobody', '-d', `${dump}/%M.`, `127.0.0.1:${port}`, '16'], {
      stdio: 'ignore',
    });
    procs.push(p);
    await listening(port);
    const sc = await testSidecar(
      join(tmp.dir, 'data'),
      configFromFlags({
        uri: `smtp://127.0.0.1:${port}/?disable_starttls=true`,
        from: 'no-reply@example.com',
      }),
    );
    cleanups.push(() => sc.stop());
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push(
        String(
          (await post(sc.httpPort, { to: `u${i}@example.org`, subject: `sink ${i}`, text: 'x' })).body.id,
        ),
      );
    await waitFor(async () => {
      for (const id of ids) if ((await getMessage(sc.httpPort, id)).state !== 'sent') return false;
      return true;
    }, 20_000);
    const files = await waitFor(() => {
      const f = readdirSync(dump);
      return f.length >= 20 ? f : undefined;
    });
    const all = files.map((f) => readFileSync(join(dump, f), 'utf8')).join('\n');
    for (let i = 0; i < 20; i++) assert.match(all, new RegExp(`Subject: sink ${i}\\r?\\n`));
  });
});
