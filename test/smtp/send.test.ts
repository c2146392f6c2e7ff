/**
 * `mailroom send` with a URI, run as a process as a person would: through smtp-server (STARTTLS,
 * AUTH) and Postfix's smtp-sink. `--sender` on the real API server: send-kube.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SendResult } from '../../src/cli/test-message.ts';
import { assertNoSecret, P, PASSWORD, USER, useSendFixture } from '../support/send-cli.ts';
import { closedPort } from '../support/smtp-servers.ts';

const fx = useSendFixture('mailroom-send-');
const { send, smtp } = fx;

describe('mailroom send with a URI', () => {
  it('through smtp-server (STARTTLS, AUTH): sent, the final reply printed, From from --from', async () => {
    const s = await smtp({ tls: fx.pki.valid, auth: { user: USER, pass: PASSWORD } });
    const out = await send(
      [
        '--from',
        'no-reply@example.test',
        '--from-name',
        'Test Sender',
        '--to',
        'alice@example.org',
        '--subject',
        'hello there',
      ],
      { MAILROOM_SMTP_URI: `smtp://${USER}:${P}@localhost:${s.port}/` },
    );
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /^✔ Sent: the server accepted the message: 250 OK: message queued$/m);
    assert.equal(s.received.length, 1);
    const m = s.received[0]!;
    assert.deepEqual(m.to, ['alice@example.org']);
    assert.equal(m.from, 'no-reply@example.test');
    assert.equal(m.user, USER);
    assert.match(m.data, /^From: Test Sender <no-reply@example\.test>$/m);
    assert.match(m.data, /^Subject: hello there$/m);
    assert.match(m.data, /^Message-ID: <[0-9a-f-]+@example\.test>$/m);
    assertNoSecret(out.stdout + out.stderr);
  });

  it('--transcript, in JSON: TLS and AUTH steps visible, no secret in any form', async () => {
    const s = await smtp({ tls: fx.pki.valid, auth: { user: USER, pass: PASSWORD }, authMethods: ['LOGIN'] });
    await writeFile(join(fx.dir, 'uri'), `smtp://${USER}:${P}@localhost:${s.port}/\n`);
    const out = await send([
      '--uri-file',
      join(fx.dir, 'uri'),
      '--from',
      'no-reply@example.test',
      '--to',
      'bob@example.org',
      '--transcript',
      '--output',
      'json',
    ]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const r = JSON.parse(out.stdout) as SendResult;
    assert.equal(r.reason, 'Sent');
    const t = r.transcript ?? [];
    for (const line of [
      'C: STARTTLS',
      '* Connection upgraded with STARTTLS',
      'C: AUTH LOGIN',
      'C: ***',
      'C: DATA',
    ])
      assert.ok(t.includes(line), `no "${line}" in\n${t.join('\n')}`);
    assertNoSecret(out.stdout + out.stderr);
  });

  it('refusals exit 1 with the probe reasons: a wrong password, a refused recipient, an untrusted certificate', async () => {
    const s = await smtp({
      tls: fx.pki.valid,
      auth: { user: USER, pass: PASSWORD },
      extra: {
        onRcptTo(address, _session, cb) {
          if (address.address.startsWith('nobody@'))
            cb(Object.assign(new Error('5.1.1 <nobody@example.org>: user unknown'), { responseCode: 550 }));
          else cb();
        },
      },
    });
    const base = ['--from', 'no-reply@example.test', '--output', 'json'];
    const wrong = await send([
      ...base,
      '--to',
      'a@example.org',
      '--uri',
      `smtp://${USER}:wrong-pass@localhost:${s.port}/`,
    ]);
    assert.equal(wrong.code, 1);
    assert.equal((JSON.parse(wrong.stdout) as SendResult).reason, 'AuthenticationFailed');
    const rcpt = await send([
      ...base,
      '--to',
      'nobody@example.org',
      '--uri',
      `smtp://${USER}:${P}@localhost:${s.port}/`,
    ]);
    assert.equal(rcpt.code, 1);
    const r = JSON.parse(rcpt.stdout) as SendResult;
    assert.equal(r.reason, 'RecipientRejected');
    assert.match(r.message, /refused the recipient with 550/);
    const untrusted = await send(
      [...base, '--to', 'a@example.org', '--uri', `smtp://${USER}:${P}@localhost:${s.port}/`],
      {
        NODE_EXTRA_CA_CERTS: '',
      },
    );
    assert.equal(untrusted.code, 1);
    assert.equal((JSON.parse(untrusted.stdout) as SendResult).reason, 'CertificateUntrusted');
    const refused = await send([
      ...base,
      '--to',
      'a@example.org',
      '--uri',
      `smtp://127.0.0.1:${await closedPort()}/`,
    ]);
    assert.equal((JSON.parse(refused.stdout) as SendResult).reason, 'ConnectionRefused');
    assertNoSecret(wrong.stdout + rcpt.stdout + untrusted.stdout);
    assert.equal(s.received.length, 0);
  });

  it('bad input exits 2 and never quotes the password', async () => {
    const noFrom = await send(['--to', 'a@example.org', '--uri', 'smtp://localhost:25/']);
    assert.equal(noFrom.code, 2);
    assert.match(noFrom.stderr, /needs --from/);
    const badUri = await send(['--to', 'a@example.org', '--from', 'x@example.test'], {
      MAILROOM_SMTP_URI: `smtp://${USER}:${PASSWORD}@localhost/`,
    });
    assert.equal(badUri.code, 2);
    assertNoSecret(badUri.stdout + badUri.stderr);
    const badTo = await send(['--to', 'not-an-address', '--sender', 'x']);
    assert.equal(badTo.code, 2);
  });

  it("through Postfix's smtp-sink (cleartext): its final reply is printed", async () => {
    const port = await closedPort();
    const dump = join(fx.dir, 'sink');
    await mkdir(dump);
    await chmod(fx.dir, 0o755);
    await chmod(dump, 0o777);
    const sink = spawn(
      '/usr/sbin/smtp-sink',
      ['-u', 'nobody', '-d', `${dump}/%M.`, `127.0.0.1:${port}`, '8'],
      {
        stdio: 'ignore',
      },
    );
    fx.onCleanup(async () => {
      sink.kill('SIGTERM');
    });
    await waitListening(port);
    const out = await send([
      '--uri',
      `smtp://127.0.0.1:${port}/?disable_starttls=true`,
      '--from',
      'no-reply@example.test',
      '--to',
      'carol@example.org',
    ]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /^✔ Sent: the server accepted the message: 250 2\.0\.0 Ok$/m);
    const files = await readdir(dump);
    assert.equal(files.length, 1);
    assert.match(await readFile(join(dump, files[0]!), 'utf8'), /^From: no-reply@example\.test$/m);
  });
});

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}
