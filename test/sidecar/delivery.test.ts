/**
 * End to end through both front doors to a real upstream `smtp-server`, in every security mode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { configFromFlags } from '../../src/sidecar/config.ts';
import { type Sidecar, startSidecar } from '../../src/sidecar/sidecar.ts';
import type { MessageView } from '../../src/sidecar/types.ts';
import {
  memoryLogger,
  startUpstream,
  tempDir,
  testCA,
  type Upstream,
  type UpstreamTls,
  waitFor,
} from '../support/sidecar-upstream.ts';

const PASSWORD = 'pa:ss/w@rd?#secret';

async function post(sc: Sidecar, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function getMessage(sc: Sidecar, id: string): Promise<MessageView> {
  const res = await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages/${id}`);
  assert.equal(res.status, 200);
  return (await res.json()) as MessageView;
}

const modes: Array<{ tls: UpstreamTls; uri: (port: number) => string; security: string }> = [
  {
    tls: 'starttls',
    uri: (p) => `smtp://mailer:${encodeURIComponent(PASSWORD)}@localhost:${p}/`,
    security: 'StartTLS',
  },
  {
    tls: 'starttls',
    uri: (p) => `smtp://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${p}/?skip_ssl_verify=true`,
    security: 'StartTLSInsecure',
  },
  {
    tls: 'none',
    uri: (p) => `smtp://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${p}/?disable_starttls=true`,
    security: 'Plaintext',
  },
  {
    tls: 'implicit',
    uri: (p) => `smtps://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${p}/?server_name=localhost`,
    security: 'ImplicitTLS',
  },
  {
    tls: 'implicit',
    uri: (p) => `smtps://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${p}/?skip_ssl_verify=true`,
    security: 'ImplicitTLSInsecure',
  },
];

for (const mode of modes) {
  describe(`delivery in ${mode.security}`, () => {
    let upstream: Upstream;
    let sc: Sidecar;
    const tmp = tempDir();
    const log = memoryLogger();

    before(async () => {
      const ca = await testCA();
      upstream = await startUpstream({ tls: mode.tls, auth: { user: 'mailer', pass: PASSWORD } });
      const config = configFromFlags({
        uri: mode.uri(upstream.port),
        from: 'no-reply@example.com',
        fromName: 'Example Identity',
        // Verified modes trust the test CA only through the sender's bundle, as in spec.smtp.caSecretRef.
        ca: ca.cert,
        localName: 'app.example.com',
        headers: { 'X-Config-Set': 'identity' },
      });
      assert.equal(config.endpoint.security, mode.security);
      sc = await startSidecar({
        dataDir: tmp.dir,
        config: { kind: 'static', config },
        logger: log.logger,
        smtpListen: { host: '127.0.0.1', port: 0 },
        httpListen: { host: '127.0.0.1', port: 0 },
      });
    });
    after(async () => {
      await sc.stop();
      await upstream.close();
      tmp.remove();
    });

    it('delivers a message from the HTTP API with the config sender and headers', async () => {
      const r = await post(sc, {
        to: 'Alice <alice@example.org>',
        bcc: ['audit@example.org'],
        subject: 'Verify your address',
        text: 'Your code is 123456',
        headers: { 'X-App': 'kratos', From: undefined },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const id = String(r.body.id);
      const m = await waitFor(async () => {
        const v = await getMessage(sc, id);
        return v.state === 'sent' ? v : undefined;
      });
      assert.equal(m.attempts.length, 1);
      assert.equal(m.attempts[0]?.code, 250);
      assert.match(m.attempts[0]?.reply ?? '', /queued as up/);
      const got = upstream.received.find((x) => x.headers.get('message-id')?.includes(id));
      assert.ok(got, 'the upstream received the message');
      assert.equal(got.mailFrom, 'no-reply@example.com');
      assert.deepEqual(got.rcptTo.sort(), ['alice@example.org', 'audit@example.org']);
      assert.match(got.headers.get('from') ?? '', /^"?Example Identity"? <no-reply@example\.com>$/);
      assert.equal(got.headers.get('x-config-set'), 'identity');
      assert.equal(got.headers.get('x-app'), 'kratos');
      assert.equal(got.headers.get('bcc'), undefined);
      assert.equal(got.secure, mode.tls !== 'none');
      assert.equal(got.user, 'mailer');
      assert.equal(got.ehlo, 'app.example.com');
    });

    it('delivers a message from the SMTP door, replacing From', async () => {
      const client = nodemailer.createTransport({
        host: '127.0.0.1',
        port: sc.smtpPort,
        secure: false,
        ignoreTLS: true,
      });
      const info = await client.sendMail({
        from: 'root@localhost',
        to: 'bob@example.org',
        subject: 'Reset your password',
        text: 'Follow the link',
        headers: { 'X-Config-Set': 'from-the-app' },
      });
      client.close();
      assert.match(info.response, /^250 .*Queued as [0-9a-f-]{36}/);
      const got = await waitFor(() =>
        upstream.received.find((x) => x.headers.get('subject') === 'Reset your password'),
      );
      assert.equal(got.mailFrom, 'no-reply@example.com');
      assert.equal(got.headers.get('from'), '"Example Identity" <no-reply@example.com>');
      // The config's header wins over the app's and appears once.
      assert.deepEqual(
        got.all.filter(([n]) => n === 'x-config-set').map(([, v]) => v),
        ['identity'],
      );
      assert.ok(!got.raw.includes('root@localhost'), 'the app From is gone');
      assert.match(got.raw, /Follow the link/);
    });

    it('never writes the password to logs or the delivery log', async () => {
      const list = await (await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages`)).text();
      const page = await (await fetch(`http://127.0.0.1:${sc.httpPort}/`)).text();
      const metrics = await (await fetch(`http://127.0.0.1:${sc.httpPort}/metrics`)).text();
      const ready = await (await fetch(`http://127.0.0.1:${sc.httpPort}/readyz`)).text();
      for (const text of [list, page, metrics, ready, log.lines.join('')]) {
        assert.ok(!text.includes(PASSWORD), 'password leaked');
        assert.ok(!text.includes(encodeURIComponent(PASSWORD)), 'encoded password leaked');
      }
      assert.match(ready, new RegExp(`"security":"${mode.security}"`));
    });
  });
}
