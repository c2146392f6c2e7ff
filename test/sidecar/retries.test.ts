/**
 * What the upstream answers decides what happens: 451 then 250 → delivered on a later attempt after
 * a backoff; 550 → abandoned at once with the reply recorded; upstream down → deferred, then
 * delivered when it comes back; login and certificate failures are retried, never abandoned at once.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { configFromFlags } from '../../src/sidecar/config.ts';
import { freePort, getMessage, post, simple, testSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, testCA, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(
  uri: (port: number) => string,
  upstreamOpts: Parameters<typeof startUpstream>[0] = {},
  delivery: { maxAttempts?: number; maxBackoffMs?: number; ca?: string } = {},
) {
  const upstream = await startUpstream(upstreamOpts);
  cleanups.push(() => upstream.close());
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const sc = await testSidecar(
    tmp.dir,
    configFromFlags({
      uri: uri(upstream.port),
      from: 'no-reply@example.com',
      maxAttempts: delivery.maxAttempts ?? 6,
      maxBackoffMs: delivery.maxBackoffMs ?? 400,
      ...(delivery.ca ? { ca: delivery.ca } : {}),
    }),
  );
  cleanups.push(() => sc.stop());
  return { upstream, sc };
}

const plain = (p: number) => `smtp://127.0.0.1:${p}/?disable_starttls=true`;

describe('retries and abandonment', () => {
  it('delivers on a later attempt after 451, with a backoff between attempts', async () => {
    const { upstream, sc } = await setup(plain, {
      reply: (n) => (n === 1 ? { code: 451, text: '4.3.0 Try again later' } : undefined),
    });
    const { body } = await post(sc.httpPort, simple(1));
    const m = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'sent' ? v : undefined;
    });
    assert.deepEqual(
      m.attempts.map((a) => a.code),
      [451, 250],
    );
    assert.match(m.attempts[0]!.reply, /451 4\.3\.0 Try again later/);
    const gap = Date.parse(m.attempts[1]!.at) - Date.parse(m.attempts[0]!.at);
    // retryBaseMs is 50: the second attempt waits at least half of it (equal jitter).
    assert.ok(gap >= 25, `second attempt came ${gap} ms after the first`);
    assert.equal(upstream.received.length, 1);
  });

  it('abandons at once on 550 and records the reply', async () => {
    const { upstream, sc } = await setup(plain, {
      reply: () => ({ code: 550, text: '5.1.1 <nobody@example.org>: Recipient address rejected' }),
    });
    const { body } = await post(sc.httpPort, simple(2, 'nobody@example.org'));
    const m = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'abandoned' ? v : undefined;
    });
    assert.equal(m.attempts.length, 1);
    assert.equal(m.attempts[0]!.code, 550);
    assert.match(m.attempts[0]!.reply, /Recipient address rejected/);
    assert.match(m.reason ?? '', /permanent failure: the server answered 550/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(upstream.dataCount(), 1, 'no second attempt');
  });

  it('gives up after delivery.maxAttempts temporary failures', async () => {
    const { upstream, sc } = await setup(
      plain,
      { reply: () => ({ code: 452, text: '4.2.2 Mailbox full' }) },
      {
        maxAttempts: 3,
        maxBackoffMs: 60,
      },
    );
    const { body } = await post(sc.httpPort, simple(3));
    const m = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'abandoned' ? v : undefined;
    });
    assert.deepEqual(
      m.attempts.map((a) => a.code),
      [452, 452, 452],
    );
    assert.match(m.reason ?? '', /gave up after 3 attempts/);
    assert.equal(upstream.dataCount(), 3);
  });

  it('defers while the upstream is down and delivers when it returns', async () => {
    const port = await freePort();
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const sc = await testSidecar(
      tmp.dir,
      configFromFlags({ uri: plain(port), from: 'no-reply@example.com', maxBackoffMs: 300, maxAttempts: 50 }),
    );
    cleanups.push(() => sc.stop());
    const { body } = await post(sc.httpPort, simple(4));
    const deferred = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'deferred' && v.attempts.length >= 2 ? v : undefined;
    });
    assert.equal(deferred.attempts[0]!.code, null);
    assert.match(deferred.attempts[0]!.reply, /ECONNECTION|ECONNREFUSED/);
    const upstream = await startUpstream({ port });
    cleanups.push(() => upstream.close());
    const sent = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'sent' ? v : undefined;
    });
    assert.equal(sent.attempts.at(-1)!.code, 250);
    assert.equal(upstream.received.length, 1);
  });

  it('retries a refused login (535) instead of abandoning, and never records the password', async () => {
    const secret = 'hunter2-very-secret';
    const { upstream, sc } = await setup(
      (p) => `smtp://mailer:${secret}@127.0.0.1:${p}/?disable_starttls=true`,
      { auth: { user: 'mailer', pass: 'another' } },
      { maxBackoffMs: 100 },
    );
    const { body } = await post(sc.httpPort, simple(5));
    const m = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'deferred' ? v : undefined;
    });
    assert.equal(m.attempts[0]!.code, 535);
    assert.ok(!JSON.stringify(m).includes(secret));
    assert.ok(!sc.lines.join('').includes(secret));
    assert.equal(upstream.received.length, 0);
  });

  it('removes a password the server echoes in its reply', async () => {
    const secret = 'echo-me-s3cret';
    const { sc } = await setup((p) => `smtp://mailer:${secret}@127.0.0.1:${p}/?disable_starttls=true`, {
      auth: { user: 'mailer', pass: secret },
      reply: () => ({
        code: 554,
        text: `5.7.1 rejected for mailer:${secret} (${Buffer.from(secret).toString('base64')})`,
      }),
    });
    const { body } = await post(sc.httpPort, simple(6));
    const m = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'abandoned' ? v : undefined;
    });
    assert.match(m.attempts[0]!.reply, /rejected for mailer:\*\*\* \(\*\*\*\)/);
    assert.ok(!JSON.stringify(m).includes(secret));
  });

  it('defers when the certificate is not trusted (verified STARTTLS without the CA)', async () => {
    const { upstream, sc } = await setup((p) => `smtp://localhost:${p}/`, { tls: 'starttls' });
    const { body } = await post(sc.httpPort, simple(7));
    const m = await waitFor(async () => {
      const v = await getMessage(sc.httpPort, String(body.id));
      return v.state === 'deferred' ? v : undefined;
    });
    assert.equal(m.attempts[0]!.code, null);
    assert.match(m.attempts[0]!.reply, /certificate|self.signed|issuer/i);
    assert.equal(upstream.received.length, 0);
  });

  it('delivers once the same upstream is trusted through the CA bundle', async () => {
    const ca = await testCA();
    const { upstream, sc } = await setup(
      (p) => `smtp://localhost:${p}/`,
      { tls: 'starttls' },
      { ca: ca.cert },
    );
    const { body } = await post(sc.httpPort, simple(8));
    await waitFor(async () => (await getMessage(sc.httpPort, String(body.id))).state === 'sent');
    assert.equal(upstream.received[0]?.secure, true);
  });
});
