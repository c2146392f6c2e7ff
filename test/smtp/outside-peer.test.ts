/**
 * The probe against an SMTP implementation that is not ours nor nodemailer's: aiosmtpd, with
 * STARTTLS + AUTH and with implicit TLS.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { smtpUriSchema } from '../../src/api/secret-values.ts';
import { probeUri } from '../../src/smtp/probe.ts';
import { type OutsidePeer, startAiosmtpd } from '../support/aiosmtpd.ts';
import { closedPort, createTestPki, type TestPki } from '../support/smtp-servers.ts';

const USER = 'outside';
const PASSWORD = 'aio-S3cret:pass';
const uriPass = encodeURIComponent(PASSWORD);

describe('probe against aiosmtpd (outside peer)', () => {
  let pki: TestPki;
  let starttls: OutsidePeer;
  let implicit: OutsidePeer;
  before(async () => {
    pki = await createTestPki();
    [starttls, implicit] = await Promise.all([
      startAiosmtpd({ mode: 'starttls', tls: pki.valid, user: USER, password: PASSWORD }),
      startAiosmtpd({ mode: 'implicit', tls: pki.valid, user: USER, password: PASSWORD }),
    ]);
  });
  after(async () => {
    await Promise.all([starttls?.close(), implicit?.close()]);
  });

  it('STARTTLS with AUTH is Verified', async () => {
    const r = await probeUri(smtpUriSchema.parse(`smtp://${USER}:${uriPass}@localhost:${starttls.port}/`), {
      ca: pki.ca.cert,
      checkSender: true,
      from: 'no-reply@example.test',
    });
    assert.equal(r.reason, 'Verified', r.message);
    assert.match(
      r.message,
      /^STARTTLS \(TLSv1\.[23]\).*AUTH (PLAIN|LOGIN) accepted; sender no-reply@example\.test accepted/,
    );
  });

  it('implicit TLS with AUTH is Verified', async () => {
    const r = await probeUri(smtpUriSchema.parse(`smtps://${USER}:${uriPass}@localhost:${implicit.port}/`), {
      ca: pki.ca.cert,
    });
    assert.equal(r.reason, 'Verified', r.message);
    assert.equal(r.security, 'ImplicitTLS');
  });

  it('a wrong password is AuthenticationFailed; cleartext against require_starttls is refused', async () => {
    const bad = await probeUri(smtpUriSchema.parse(`smtp://${USER}:wrong@localhost:${starttls.port}/`), {
      ca: pki.ca.cert,
    });
    assert.equal(bad.reason, 'AuthenticationFailed', bad.message);
    const clear = await probeUri(
      smtpUriSchema.parse(`smtp://${USER}:${uriPass}@localhost:${starttls.port}/?disable_starttls=true`),
    );
    assert.equal(clear.reason, 'AuthenticationNotOffered', clear.message);
    assert.match(clear.message, /offer AUTH only after STARTTLS/);
    assert.equal(JSON.stringify([bad, clear]).includes(PASSWORD), false);
  });
});

describe("probe against Postfix's smtp-sink (outside peer)", () => {
  it('judges AUTH as sending does: smtp-sink answers 250, which nodemailer accepts', async () => {
    const port = await closedPort();
    const sink = spawn('/usr/sbin/smtp-sink', ['-u', 'nobody', `127.0.0.1:${port}`, '10'], {
      stdio: 'ignore',
    });
    try {
      let r = await probeUri(smtpUriSchema.parse(`smtp://127.0.0.1:${port}/?disable_starttls=true`), {
        timeoutMs: 2000,
      });
      for (let i = 0; i < 20 && r.reason === 'ConnectionRefused'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        r = await probeUri(smtpUriSchema.parse(`smtp://127.0.0.1:${port}/?disable_starttls=true`), {
          timeoutMs: 2000,
        });
      }
      assert.equal(r.reason, 'Verified', r.message);
      const withAuth = await probeUri(
        smtpUriSchema.parse(`smtp://u:p@127.0.0.1:${port}/?disable_starttls=true`),
        {
          timeoutMs: 2000,
        },
      );
      assert.equal(withAuth.reason, 'Verified', withAuth.message);
      assert.equal(withAuth.authMechanism, 'PLAIN');
      const starttls = await probeUri(smtpUriSchema.parse(`smtp://127.0.0.1:${port}/`), { timeoutMs: 2000 });
      assert.equal(starttls.reason, 'STARTTLSNotOffered', starttls.message);
    } finally {
      sink.kill();
      await once(sink, 'exit');
    }
  });
});
