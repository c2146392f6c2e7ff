/**
 * `mailroom probe --transcript`, run as a process against real servers: the conversation is shown
 * with its TLS and AUTH steps, and no credential appears in any encoding, for every AUTH mechanism.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProbeResult } from '../../src/smtp/probe-result.ts';
import { type OutsidePeer, startAiosmtpd } from '../support/aiosmtpd.ts';
import { runCommand } from '../support/run-command.ts';
import {
  createTestPki,
  startSmtpServer,
  type TestPki,
  type TestSmtpServer,
} from '../support/smtp-servers.ts';

const USER = 'transcript-user@example.test';
const PASSWORD = 'Tr4nscr1pt/pass word+=?#@';
const P = encodeURIComponent(PASSWORD);

/** Every encoding in which the password (or the AUTH PLAIN blob around it) could leak. */
function secretForms(): string[] {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const forms = [
    PASSWORD,
    P,
    P.toLowerCase(),
    encodeURIComponent(PASSWORD).replace(/%20/g, '+'),
    b64(PASSWORD),
    b64(`\0${USER}\0${PASSWORD}`),
    b64(`${USER}\0${USER}\0${PASSWORD}`),
  ];
  // The base64 of the password at each alignment inside a longer blob, without the edges.
  for (let pad = 0; pad < 3; pad++) forms.push(b64('\0'.repeat(pad) + PASSWORD).slice(4, -4));
  // Any 6-character window of the password itself.
  for (let i = 0; i + 6 <= PASSWORD.length; i++) forms.push(PASSWORD.slice(i, i + 6));
  return forms;
}

function assertNoSecret(output: string): void {
  for (const form of secretForms()) assert.equal(output.includes(form), false, `the output holds "${form}"`);
}

describe('mailroom probe --transcript', () => {
  let pki: TestPki;
  let dir: string;
  const servers: Array<{ close(): Promise<void> }> = [];
  before(async () => {
    pki = await createTestPki();
    dir = await mkdtemp(join(tmpdir(), 'mailroom-transcript-'));
    await writeFile(join(dir, 'ca.pem'), pki.ca.cert);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  const probe = (uri: string, ...extra: string[]) =>
    runCommand(process.execPath, [
      'src/cli/main.ts',
      'probe',
      '--transcript',
      '--ca-file',
      join(dir, 'ca.pem'),
      '--local-name',
      'probe.mailroom.test',
      ...extra,
      uri,
    ]);

  for (const mech of ['PLAIN', 'LOGIN', 'CRAM-MD5']) {
    it(`AUTH ${mech} over STARTTLS: every step shown, no secret in any form`, async () => {
      const s: TestSmtpServer = await startSmtpServer({
        tls: pki.valid,
        auth: { user: USER, pass: PASSWORD },
        authMethods: [mech],
      });
      servers.push(s);
      const out = await probe(`smtp://${encodeURIComponent(USER)}:${P}@localhost:${s.port}/`);
      assert.equal(out.code, 0, out.stdout + out.stderr);
      const lines = out.stdout.split('\n').map((l) => l.trim());
      for (const expected of [
        /^\* connected to localhost:\d+/,
        /^S: 220 /,
        /^C: EHLO probe\.mailroom\.test$/,
        /^S: 250-STARTTLS$/,
        /^C: STARTTLS$/,
        /^\* TLS established: TLSv1\.3, TLS_AES_\d+_GCM_SHA\d+$/,
        /^\* certificate: subject CN=localhost \(localhost, 127\.0\.0\.1\), issuer CN=Mailroom Test CA, O=Mailroom, notAfter \d{4}-/,
        new RegExp(`^C: AUTH ${mech}${mech === 'PLAIN' ? ' \\*\\*\\*' : ''}$`),
        /^S: 235 /,
        /^C: QUIT$/,
      ]) {
        assert.ok(
          lines.some((l) => expected.test(l)),
          `no line matches ${expected}:\n${out.stdout}`,
        );
      }
      // The lines a client sends inside an AUTH exchange are masked whole.
      if (mech !== 'PLAIN') assert.ok(lines.includes('C: ***'), out.stdout);
      assertNoSecret(out.stdout + out.stderr);
    });
  }

  it('a rejected login, in JSON: transcript only when asked, no secret', async () => {
    const s = await startSmtpServer({ tls: pki.valid, auth: { user: USER, pass: 'another-password' } });
    servers.push(s);
    const uri = `smtp://${encodeURIComponent(USER)}:${P}@localhost:${s.port}/`;
    const out = await probe(uri, '--output', 'json');
    assert.equal(out.code, 1);
    const json = JSON.parse(out.stdout) as ProbeResult;
    assert.equal(json.reason, 'AuthenticationFailed');
    assert.ok(json.transcript?.includes('C: AUTH PLAIN ***'), out.stdout);
    assert.ok(json.transcript?.some((l) => l.startsWith('S: 535')));
    assertNoSecret(out.stdout + out.stderr);
    const plain = await runCommand(process.execPath, [
      'src/cli/main.ts',
      'probe',
      '--output',
      'json',
      '--ca-file',
      join(dir, 'ca.pem'),
      uri,
    ]);
    assert.equal('transcript' in (JSON.parse(plain.stdout) as ProbeResult), false);
  });

  it('implicit TLS against aiosmtpd (an outside implementation)', async () => {
    const peer: OutsidePeer = await startAiosmtpd({
      mode: 'implicit',
      tls: pki.valid,
      user: USER,
      password: PASSWORD,
    });
    servers.push(peer);
    const out = await probe(`smtps://${encodeURIComponent(USER)}:${P}@localhost:${peer.port}/`);
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stdout, /\* TLS established: TLSv1\.3/);
    assert.match(out.stdout, /C: AUTH (PLAIN \*\*\*|LOGIN)/);
    assertNoSecret(out.stdout + out.stderr);
  });
});
