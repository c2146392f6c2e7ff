/**
 * The probe against real SMTP servers on loopback: every security mode, and every reason produced by
 * a real socket. `mailroom probe` (the command) is run as a process for its output and exit codes.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { smtpUriSchema } from '../../src/api/secret-values.ts';
import { createSelfSigned } from '../../src/runtime/pki.ts';
import { type ProbeOptions, probeUri } from '../../src/smtp/probe.ts';
import type { ProbeResult } from '../../src/smtp/probe-result.ts';
import { startDnsmasq } from '../support/dnsmasq.ts';
import {
  closedPort,
  createTestPki,
  type Misbehaviour,
  startMisbehavingPeer,
  startSmtpServer,
  type TestPki,
  type TestSmtpServer,
} from '../support/smtp-servers.ts';

const PASSWORD = 'Pr0be-Secret/with?odd#chars@';
const P = encodeURIComponent(PASSWORD);
const USER = 'mailer';
const run = promisify(execFile);

let pki: TestPki;
const servers: Array<{ close(): Promise<void> }> = [];
const results: ProbeResult[] = [];

async function server(opts: Parameters<typeof startSmtpServer>[0]): Promise<TestSmtpServer> {
  const s = await startSmtpServer(opts);
  servers.push(s);
  return s;
}

async function probeIt(uri: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const r = await probeUri(smtpUriSchema.parse(uri), {
    ca: pki.ca.cert,
    timeoutMs: 5000,
    localName: 'probe.mailroom.test',
    ...opts,
  });
  results.push(r);
  return r;
}

before(async () => {
  pki = await createTestPki();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  // No credential, in any encoding, in anything a probe reported.
  const dump = JSON.stringify(results);
  for (const form of [PASSWORD, P, Buffer.from(PASSWORD).toString('base64')]) {
    assert.equal(dump.includes(form), false, 'a probe result holds the password');
  }
});

describe('probe: the six mechanisms succeed', () => {
  it('STARTTLS, verified, with AUTH PLAIN: Verified with TLS and certificate facts', async () => {
    const s = await server({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    const r = await probeIt(`smtp://${USER}:${P}@localhost:${s.port}/`);
    assert.equal(r.reason, 'Verified', r.message);
    assert.equal(r.ok, true);
    assert.equal(r.security, 'StartTLS');
    assert.match(r.tls?.version ?? '', /^TLSv1\.[23]$/);
    assert.equal(r.tls?.certificate?.subject, 'CN=localhost');
    assert.match(r.tls?.certificate?.sha256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(r.authMechanism, 'PLAIN');
    assert.ok(r.authMechanisms.includes('PLAIN'));
    assert.match(
      r.message,
      /^STARTTLS \(TLSv1\.[23]\) to localhost:\d+; certificate valid until \d{4}-\d\d-\d\d; AUTH PLAIN accepted; \d+ ms$/,
    );
    assert.deepEqual(s.authAttempts, [USER]);
    assert.equal(s.received.length, 0, 'a probe never sends a message');
  });

  it('STARTTLS with skip_ssl_verify accepts a self-signed certificate and warns', async () => {
    const s = await server({
      tls: await createSelfSigned(['elsewhere.test']),
      auth: { user: USER, pass: PASSWORD },
    });
    const r = await probeIt(`smtp://${USER}:${P}@127.0.0.1:${s.port}/?skip_ssl_verify=true`);
    assert.equal(r.reason, 'Verified', r.message);
    assert.equal(r.security, 'StartTLSInsecure');
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      ['CertificateNotVerified'],
    );
    assert.match(r.message, /NOT verified/);
  });

  it('disable_starttls stays in cleartext even when the server offers STARTTLS', async () => {
    const s = await server({
      tls: pki.valid,
      mode: 'starttls',
      auth: { user: USER, pass: PASSWORD },
      extra: { allowInsecureAuth: true },
    });
    const r = await probeIt(`smtp://${USER}:${P}@127.0.0.1:${s.port}/?disable_starttls=true`);
    assert.equal(r.reason, 'Verified', r.message);
    assert.equal(r.tls, undefined, 'no TLS must be attempted');
    assert.ok(r.extensions.includes('STARTTLS'));
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      ['Cleartext', 'CredentialsInCleartext'],
    );
    assert.match(r.message, /offers STARTTLS but disable_starttls=true/);
  });

  it('implicit TLS, verified', async () => {
    const s = await server({ mode: 'implicit', tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    const r = await probeIt(`smtps://${USER}:${P}@localhost:${s.port}/`);
    assert.equal(r.reason, 'Verified', r.message);
    assert.equal(r.security, 'ImplicitTLS');
    assert.match(r.message, /^implicit TLS/);
  });

  it('implicit TLS with skip_ssl_verify accepts a certificate for another name', async () => {
    const s = await server({ mode: 'implicit', tls: pki.wrongName });
    const r = await probeIt(`smtps://127.0.0.1:${s.port}/?skip_ssl_verify=true`);
    assert.equal(r.reason, 'Verified', r.message);
    assert.equal(r.security, 'ImplicitTLSInsecure');
    assert.match(r.message, /no credentials in the URI/);
  });

  it('server_name verifies the certificate against that name, with smtps and with STARTTLS', async () => {
    const implicit = await server({ mode: 'implicit', tls: pki.wrongName });
    const r1 = await probeIt(`smtps://127.0.0.1:${implicit.port}/?server_name=mail.other.test`);
    assert.equal(r1.reason, 'Verified', r1.message);
    const starttls = await server({ tls: pki.wrongName });
    const r2 = await probeIt(`smtp://127.0.0.1:${starttls.port}/?server_name=mail.other.test`);
    assert.equal(r2.reason, 'Verified', r2.message);
  });

  it('LOGIN and CRAM-MD5 when PLAIN is not offered', async () => {
    for (const mech of ['LOGIN', 'CRAM-MD5']) {
      const s = await server({ tls: pki.valid, auth: { user: USER, pass: PASSWORD }, authMethods: [mech] });
      const r = await probeIt(`smtp://${USER}:${P}@localhost:${s.port}/`);
      assert.equal(r.reason, 'Verified', r.message);
      assert.equal(r.authMechanism, mech);
    }
  });

  it('checkSender sends MAIL FROM and accepts a permitted sender', async () => {
    const s = await server({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    const r = await probeIt(`smtp://${USER}:${P}@localhost:${s.port}/`, {
      checkSender: true,
      from: 'no-reply@example.test',
    });
    assert.equal(r.reason, 'Verified', r.message);
    assert.match(r.message, /sender no-reply@example\.test accepted/);
  });
});

describe('probe: every failure has its reason', () => {
  const expectReason = (r: ProbeResult, reason: string, step: string, message: RegExp) => {
    assert.equal(r.ok, false);
    assert.equal(r.reason, reason, r.message);
    assert.equal(r.step, step);
    assert.match(r.message, message);
  };

  it('DNSLookupFailed, through a real DNS server on loopback', async () => {
    const dns = await startDnsmasq();
    servers.push(dns);
    const r = await probeIt('smtp://no-such-host.mailroom.test:587/', { dnsServers: [dns.address] });
    expectReason(r, 'DNSLookupFailed', 'dns', /does not resolve/);
  });

  it('ConnectionRefused', async () => {
    expectReason(
      await probeIt(`smtp://127.0.0.1:${await closedPort()}/`),
      'ConnectionRefused',
      'connect',
      /refused/,
    );
  });

  const peers: Array<[Misbehaviour, string, string, RegExp]> = [
    ['silent', 'ConnectionTimeout', 'greeting', /no answer before its greeting/],
    ['garbage-greeting', 'UnexpectedGreeting', 'greeting', /not SMTP/],
    ['reject-greeting', 'UnexpectedGreeting', 'greeting', /greeted with 554/],
    ['close-after-greeting', 'UnexpectedGreeting', 'ehlo', /closed the connection to EHLO/],
    ['close-at-once', 'UnexpectedGreeting', 'greeting', /closed the connection/],
  ];
  for (const [kind, reason, step, message] of peers) {
    it(`${reason} from a peer that is ${kind}`, async () => {
      const peer = await startMisbehavingPeer(kind);
      servers.push(peer);
      expectReason(
        await probeIt(`smtp://127.0.0.1:${peer.port}/`, { timeoutMs: 1500 }),
        reason,
        step,
        message,
      );
    });
  }

  it('STARTTLSNotOffered', async () => {
    const s = await server({ mode: 'plain' });
    expectReason(
      await probeIt(`smtp://127.0.0.1:${s.port}/`),
      'STARTTLSNotOffered',
      'starttls',
      /does not offer STARTTLS/,
    );
  });

  it('TLSHandshakeFailed when smtps:// meets a plaintext port', async () => {
    const s = await server({ tls: pki.valid });
    expectReason(
      await probeIt(`smtps://localhost:${s.port}/`),
      'TLSHandshakeFailed',
      'tls',
      /plain text, not TLS: use smtp:\/\//,
    );
  });

  it('CertificateUntrusted without the private CA', async () => {
    const s = await server({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    const r = await probeUri(smtpUriSchema.parse(`smtp://${USER}:${P}@localhost:${s.port}/`), {
      timeoutMs: 5000,
    });
    results.push(r);
    expectReason(r, 'CertificateUntrusted', 'starttls', /does not chain to a trusted CA.*caSecretRef/);
    assert.deepEqual(s.authAttempts, [], 'no credential may be sent over an unverified connection');
  });

  it('CertificateHostnameMismatch', async () => {
    const s = await server({ mode: 'implicit', tls: pki.wrongName, auth: { user: USER, pass: PASSWORD } });
    const r = await probeIt(`smtps://${USER}:${P}@127.0.0.1:${s.port}/`);
    expectReason(
      r,
      'CertificateHostnameMismatch',
      'tls',
      /for mail\.other\.test, not for 127\.0\.0\.1.*server_name/,
    );
    assert.deepEqual(s.authAttempts, []);
  });

  it('CertificateExpired', async () => {
    const s = await server({ tls: pki.expired });
    expectReason(
      await probeIt(`smtp://localhost:${s.port}/`),
      'CertificateExpired',
      'starttls',
      /expired on/,
    );
  });

  it('CertificateExpiringSoon is a warning on a Verified result', async () => {
    const s = await server({ tls: pki.expiringSoon });
    const r = await probeIt(`smtp://localhost:${s.port}/`);
    assert.equal(r.reason, 'Verified', r.message);
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      ['CertificateExpiringSoon'],
    );
  });

  it('AuthenticationFailed with a wrong password', async () => {
    const s = await server({ tls: pki.valid, auth: { user: USER, pass: 'the-right-one' } });
    const r = await probeIt(`smtp://${USER}:${P}@localhost:${s.port}/`);
    expectReason(r, 'AuthenticationFailed', 'auth', /rejected AUTH PLAIN with 535/);
    assert.deepEqual(s.authAttempts, [USER]);
  });

  it('AuthenticationNotOffered when the server has no AUTH', async () => {
    const s = await server({ tls: pki.valid });
    expectReason(
      await probeIt(`smtp://${USER}:${P}@localhost:${s.port}/`),
      'AuthenticationNotOffered',
      'auth',
      /announces no AUTH/,
    );
  });

  it('SenderRejected', async () => {
    const s = await server({
      tls: pki.valid,
      auth: { user: USER, pass: PASSWORD },
      rejectSenders: ['bad@example.test'],
    });
    const r = await probeIt(`smtp://${USER}:${P}@localhost:${s.port}/`, {
      checkSender: true,
      from: 'bad@example.test',
    });
    expectReason(r, 'SenderRejected', 'sender', /refused the sender bad@example\.test with 553/);
  });

  it('ConnectionTimeout for the whole probe is bounded by timeoutMs', async () => {
    const peer = await startMisbehavingPeer('silent');
    servers.push(peer);
    const t = Date.now();
    await probeIt(`smtp://127.0.0.1:${peer.port}/`, { timeoutMs: 800 });
    assert.ok(Date.now() - t < 2000, 'the probe overran its time limit');
  });
});

describe('mailroom probe (the command)', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, ['src/cli/main.ts', 'probe', ...args], { env: { ...process.env, ...env } }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailroom-probe-'));
    await writeFile(join(dir, 'ca.pem'), pki.ca.cert);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints JSON and exits 0 when verified (URI from a file, CA from --ca-file)', async () => {
    const s = await server({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    await writeFile(join(dir, 'uri'), `smtp://${USER}:${P}@localhost:${s.port}/\n`);
    const out = await cli([
      '--output',
      'json',
      '--uri-file',
      join(dir, 'uri'),
      '--ca-file',
      join(dir, 'ca.pem'),
    ]);
    assert.equal(out.code, 0, out.stdout);
    const json = JSON.parse(out.stdout) as ProbeResult;
    for (const key of ['ok', 'reason', 'message', 'security', 'endpoint', 'durationMs', 'tls', 'warnings']) {
      assert.ok(key in json, `missing ${key}`);
    }
    assert.equal(json.reason, 'Verified');
    assert.equal(out.stdout.includes(P) || out.stdout.includes(PASSWORD), false);
  });

  it('exits 1 when the server side fails, trusting NODE_EXTRA_CA_CERTS', async () => {
    const s = await server({ tls: pki.valid, auth: { user: USER, pass: 'other' } });
    const out = await cli(['--output', 'json', `smtp://${USER}:${P}@localhost:${s.port}/`], {
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
    });
    assert.equal(out.code, 1, out.stdout);
    assert.equal((JSON.parse(out.stdout) as ProbeResult).reason, 'AuthenticationFailed');
  });

  it('exits 2 for invalid input, with text that names the fix and hides the password', async () => {
    const out = await cli([], { MAILROOM_SMTP_URI: 'smtp://user:hunter2?x@localhost/' });
    assert.equal(out.code, 2);
    assert.match(out.stdout, /InvalidURI: .*raw `\?`.*%3F/);
    assert.equal(out.stdout.includes('hunter2'), false);
  });

  it('InvalidURI: refused where it enters, at step parse, before any connection', async () => {
    const out = await cli(['--output', 'json', 'smtp://user:pa/ss@localhost/']);
    assert.equal(out.code, 2);
    const r = JSON.parse(out.stdout) as ProbeResult;
    assert.equal(r.reason, 'InvalidURI');
    assert.equal(r.step, 'parse');
    assert.match(r.message, /^invalid URI \(password\): .*%2F/);
    assert.equal(out.stdout.includes('pa/ss'), false);
  });
});
