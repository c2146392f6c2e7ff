/**
 * Every common cause of a failed TLS handshake gets its own message, each under the closed reason set,
 * against real TLS stacks: `openssl s_server`, Python's ssl (a scripted SMTP server), smtp-server.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { smtpUriSchema } from '../../src/api/secret-values.ts';
import { probeUri } from '../../src/smtp/probe.ts';
import type { ProbeResult } from '../../src/smtp/probe-result.ts';
import { createTestPki, startSmtpServer, type TestPki } from '../support/smtp-servers.ts';
import { startOpensslServer, startScriptedTls, type TlsPeer } from '../support/tls-peers.ts';

let pki: TestPki;
const peers: Array<{ close(): Promise<void> }> = [];

async function peer<T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const started = await p;
  peers.push(started);
  return started;
}

function probe(uri: string): Promise<ProbeResult> {
  return probeUri(smtpUriSchema.parse(uri), {
    ca: pki.ca.cert,
    timeoutMs: 5000,
    localName: 'probe.mailroom.test',
    transcript: true,
  });
}

function expectTls(r: ProbeResult, step: 'tls' | 'starttls', message: RegExp, p?: TlsPeer): void {
  const why = `${r.message}\n${r.transcript?.join('\n')}\n${p?.output() ?? ''}`;
  assert.equal(r.reason, 'TLSHandshakeFailed', why);
  assert.equal(r.step, step, why);
  assert.match(r.message, message, why);
}

before(async () => {
  pki = await createTestPki();
});
after(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

// The machine's OpenSSL must serve TLS 1.0 for these tests to mean anything: s_server proves it.
const LEGACY =
  /speaks only TLSv1 \(a diagnostic handshake that allowed TLS 1\.0 agreed on TLSv1, .*\); Node refuses TLS older than 1\.2 and skip_ssl_verify does not change that: enable TLS 1\.2 or newer on the server/;

describe('TLS 1.0/1.1 only: learned with a diagnostic handshake', () => {
  it('openssl s_server -tls1 (implicit TLS)', async () => {
    const p = await peer(startOpensslServer(pki.valid, ['-tls1', '-cipher', 'DEFAULT:@SECLEVEL=0']));
    expectTls(await probe(`smtps://localhost:${p.port}/`), 'tls', LEGACY, p);
  });

  it('Python ssl behind STARTTLS, TLS 1.1 at most, and skip_ssl_verify does not help', async () => {
    const p = await peer(
      startScriptedTls({
        mode: 'starttls',
        tls: pki.valid,
        tlsMin: 'TLSv1',
        tlsMax: 'TLSv1_1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      }),
    );
    const r = await probe(`smtp://localhost:${p.port}/?skip_ssl_verify=true`);
    expectTls(r, 'starttls', /speaks only TLSv1\.1 \(a diagnostic handshake/, p);
    assert.ok(r.transcript?.some((l) => /^\* diagnostic handshake: TLSv1\.1/.test(l)));
  });
});

describe('smtp-server (Node TLS) with the same faults', () => {
  it('TLS 1.0 only, STARTTLS', async () => {
    const s = await peer(
      startSmtpServer({
        tls: pki.valid,
        extra: { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' },
      }),
    );
    expectTls(await probe(`smtp://localhost:${s.port}/`), 'starttls', LEGACY);
  });

  it('a required client certificate (TLS 1.3), STARTTLS', async () => {
    const s = await peer(
      startSmtpServer({
        tls: pki.valid,
        extra: { requestCert: true, rejectUnauthorized: true, ca: pki.ca.cert },
      }),
    );
    expectTls(await probe(`smtp://localhost:${s.port}/`), 'starttls', /demands a TLS client certificate/);
  });
});

describe('no cipher in common', () => {
  it('openssl s_server offering only CAMELLIA: the diagnostic handshake names the cipher', async () => {
    // The test certificates have ECDSA keys: a cipher Node leaves out that still fits them.
    const p = await peer(
      startOpensslServer(pki.valid, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CAMELLIA256-SHA384:@SECLEVEL=0']),
    );
    expectTls(
      await probe(`smtps://localhost:${p.port}/`),
      'tls',
      /no cipher in common \(a diagnostic handshake that allowed every cipher agreed on TLSv1\.2 with TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384, which Node does not offer\).*enable ECDHE/,
      p,
    );
  });

  it('Python ssl behind STARTTLS offering only CAMELLIA-128', async () => {
    const p = await peer(
      startScriptedTls({
        mode: 'starttls',
        tls: pki.valid,
        tlsMax: 'TLSv1_2',
        ciphers: 'ECDHE-ECDSA-CAMELLIA128-SHA256:@SECLEVEL=0',
      }),
    );
    expectTls(
      await probe(`smtp://localhost:${p.port}/`),
      'starttls',
      /no cipher in common .*CAMELLIA_128/,
      p,
    );
  });
});

describe('the server demands a client certificate', () => {
  const CLIENT_CERT =
    /demands a TLS client certificate, and Mailroom presents none: on the server, stop requiring/;

  it('TLS 1.2 (openssl s_server -Verify): refused in the handshake', async () => {
    const p = await peer(startOpensslServer(pki.valid, ['-tls1_2', '-Verify', '1'], pki.ca.cert));
    const r = await probe(`smtps://localhost:${p.port}/`);
    expectTls(r, 'tls', CLIENT_CERT, p);
    assert.ok(!r.transcript?.some((l) => l.startsWith('* diagnostic')), 'no diagnostic handshake is needed');
  });

  it('TLS 1.3 behind STARTTLS (Python ssl): refused only on the first read, not "closed to EHLO"', async () => {
    const p = await peer(startScriptedTls({ mode: 'starttls', tls: pki.valid, clientCa: pki.ca.cert }));
    const r = await probe(`smtp://localhost:${p.port}/`);
    expectTls(r, 'starttls', /demands a TLS client certificate.*after the handshake, on the first read/, p);
    assert.equal(r.tls?.version, 'TLSv1.3');
  });

  it('TLS 1.3 with implicit TLS (openssl s_server -Verify)', async () => {
    const p = await peer(startOpensslServer(pki.valid, ['-tls1_3', '-Verify', '1'], pki.ca.cert));
    expectTls(await probe(`smtps://localhost:${p.port}/`), 'tls', CLIENT_CERT, p);
  });
});

describe('STARTTLS answered with an error', () => {
  it('454 (temporary): the server TLS setup is broken', async () => {
    const p = await peer(
      startScriptedTls({
        mode: 'starttls',
        tls: pki.valid,
        starttlsReply: '454 4.7.0 TLS not available due to local problem',
      }),
    );
    const r = await probe(`smtp://localhost:${p.port}/`);
    assert.equal(r.reason, 'STARTTLSNotOffered', r.message);
    assert.equal(r.step, 'starttls');
    assert.match(
      r.message,
      /answered it with 454 4\.7\.0 \(temporary\): its TLS is not working.*fix the server's TLS setup/,
    );
    assert.equal(r.message.includes('local problem'), false, 'the server text is not quoted');
  });

  it('554 (permanent)', async () => {
    const p = await peer(
      startScriptedTls({ mode: 'starttls', tls: pki.valid, starttlsReply: '554 5.7.3 STARTTLS refused' }),
    );
    const r = await probe(`smtp://localhost:${p.port}/`);
    assert.equal(r.reason, 'STARTTLSNotOffered', r.message);
    assert.match(r.message, /refused it with 554 5\.7\.3 \(permanent\)/);
  });
});

describe('a TLS server that is fine still verifies', () => {
  it('Python ssl behind STARTTLS, TLS 1.2+: Verified', async () => {
    const p = await peer(startScriptedTls({ mode: 'starttls', tls: pki.valid }));
    const r = await probe(`smtp://localhost:${p.port}/`);
    assert.equal(r.reason, 'Verified', `${r.message}\n${p.output()}`);
  });
});
