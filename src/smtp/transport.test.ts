import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { ehloName, transportOptions } from './transport.ts';
import { parseSmtpUri } from './uri.ts';

const PEM = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUAAAAAAAAAAAAAAAAAAAAAAAAAAAwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----`;

const opts = (uri: string, settings = {}) => transportOptions(parseSmtpUri(uri).endpoint, settings);

describe('transportOptions', () => {
  const table = [
    ['smtp://u:p@mail.example.com/', { secure: false, requireTLS: true, ignoreTLS: false, verify: true }],
    [
      'smtp://u:p@mail.example.com/?skip_ssl_verify=true',
      { secure: false, requireTLS: true, ignoreTLS: false, verify: false },
    ],
    [
      'smtp://u:p@mail.example.com/?disable_starttls=true',
      { secure: false, requireTLS: false, ignoreTLS: true, verify: undefined },
    ],
    ['smtps://u:p@mail.example.com/', { secure: true, requireTLS: false, ignoreTLS: false, verify: true }],
    [
      'smtps://u:p@mail.example.com/?skip_ssl_verify=true',
      { secure: true, requireTLS: false, ignoreTLS: false, verify: false },
    ],
  ] as const;
  for (const [uri, want] of table) {
    it(`maps ${uri.replace(/u:p@/, '')}`, () => {
      const o = opts(uri);
      assert.equal(o.pool, true);
      assert.equal(o.host, 'mail.example.com');
      assert.equal(o.secure, want.secure);
      assert.equal(o.requireTLS, want.requireTLS);
      assert.equal(o.ignoreTLS, want.ignoreTLS);
      assert.equal(o.tls?.rejectUnauthorized, want.verify);
      assert.deepEqual(o.auth, { user: 'u', pass: 'p' });
      // The pool never re-sends on its own: the delivery worker owns retries and their record.
      assert.equal(o.maxRequeues, 0);
    });
  }

  it('uses the default ports', () => {
    assert.equal(opts('smtp://mail.example.com').port, 587);
    assert.equal(opts('smtps://mail.example.com').port, 465);
  });

  it('sends SNI and checks the certificate against server_name, not the host', () => {
    const o = opts('smtps://10.0.0.5:465/?server_name=mail.example.com');
    assert.equal(o.host, '10.0.0.5');
    assert.equal(o.tls?.servername, 'mail.example.com');
  });

  it('pins the name check when server_name is an IP address (no SNI for IPs)', () => {
    const o = opts('smtps://mail.example.com/?server_name=10.0.0.5');
    assert.equal(o.tls?.servername, undefined);
    const check = o.tls?.checkServerIdentity;
    assert.ok(check);
    const cert = { subject: { CN: 'x' }, subjectaltname: 'IP Address:10.0.0.5' } as never;
    assert.equal(check('mail.example.com', cert), undefined);
    const wrong = { subject: { CN: 'x' }, subjectaltname: 'IP Address:10.0.0.6' } as never;
    assert.ok(check('mail.example.com', wrong) instanceof Error);
  });

  it('adds the sender CA bundle to the trusted roots', () => {
    const base = opts('smtp://mail.example.com/').tls?.ca as string[];
    const withCa = opts('smtp://mail.example.com/', { ca: PEM }).tls?.ca as string[];
    assert.equal(withCa.length, base.length + 1);
    assert.ok(withCa.includes(PEM));
  });

  it('refuses a CA bundle without certificates', () => {
    assert.throws(() => opts('smtp://mail.example.com/', { ca: 'nothing' }), /holds no PEM certificate/);
  });

  it('sets no auth without credentials and no TLS options for cleartext', () => {
    const o = opts('smtp://mail.example.com/?disable_starttls=true');
    assert.equal(o.auth, undefined);
    assert.deepEqual(o.tls, {});
  });

  it('announces the configured EHLO name', () => {
    assert.equal(opts('smtp://mail.example.com/', { localName: 'app.example.com' }).name, 'app.example.com');
  });
});

describe('ehloName', () => {
  it('prefers the configured name', () => assert.equal(ehloName('a.example'), 'a.example'));
  it('never announces localhost', () => {
    const name = ehloName();
    assert.notEqual(name, 'localhost');
    if (hostname() !== 'localhost') assert.equal(name, hostname());
  });
});
