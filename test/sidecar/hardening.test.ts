/**
 * Door hardening: Content-Type (415), a loopback Host only (403: DNS rebinding), an optional bearer
 * token (401; `mailroom deliveries --token`), Idempotency-Key length and reuse with another body
 * (409), one recipient cap for both doors, and SMTPUTF8: a non-ASCII local part goes out with it and
 * an IDN domain in its ASCII form (an upstream without SMTPUTF8: test/sidecar/smtputf8.test.ts).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { runDeliveries } from '../../src/cli/deliveries.ts';
import { configFromFlags } from '../../src/sidecar/config.ts';
import { MAX_RECIPIENTS } from '../../src/sidecar/limits.ts';
import type { Sidecar } from '../../src/sidecar/sidecar.ts';
import { post, simple, testSidecar } from '../support/sidecar-harness.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';
import { startUpstream, tempDir, type Upstream, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function raw(
  port: number,
  headers: Record<string, string>,
  body = '',
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/messages', method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += String(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('door hardening', () => {
  let sc: Sidecar;
  let upstream: Upstream;
  const TOKEN = 'test-token-0123456789';
  before(async () => {
    upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    sc = await testSidecar(
      tmp.dir,
      configFromFlags({
        uri: `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`,
        from: 'no-reply@example.com',
      }),
      { httpToken: TOKEN },
    );
    cleanups.push(() => sc.stop());
  });
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('requires the bearer token on the API, not on the probes', async () => {
    assert.equal((await post(sc.httpPort, simple(1))).status, 401);
    assert.equal((await post(sc.httpPort, simple(1), { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await post(sc.httpPort, simple(1), auth)).status, 202);
    assert.equal((await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${sc.httpPort}/healthz`)).status, 200);
    const lines: string[] = [];
    await runDeliveries(
      {
        api: `http://127.0.0.1:${sc.httpPort}`,
        limit: 5,
        follow: false,
        json: false,
        intervalMs: 100,
        token: TOKEN,
      },
      (l) => lines.push(l),
    );
    assert.match(lines[0] ?? '', /^# queued/);
  });

  it('answers 415 to a body that is not declared JSON', async () => {
    const r = await raw(sc.httpPort, { ...auth, 'content-type': 'text/plain' }, JSON.stringify(simple(2)));
    assert.equal(r.status, 415);
    assert.match(r.text, /Content-Type: application\/json/);
  });

  it('answers 403 to a Host that is not loopback (DNS rebinding)', async () => {
    const r = await raw(
      sc.httpPort,
      { ...auth, 'content-type': 'application/json', host: 'rebind.attacker.example' },
      JSON.stringify(simple(3)),
    );
    assert.equal(r.status, 403);
    for (const host of [`localhost:${sc.httpPort}`, `127.0.0.1:${sc.httpPort}`]) {
      const ok = await raw(
        sc.httpPort,
        { ...auth, 'content-type': 'application/json', host },
        JSON.stringify(simple(4)),
      );
      assert.equal(ok.status, 202, host);
    }
  });

  it('bounds the Idempotency-Key and refuses its reuse for another message (409)', async () => {
    const long = await post(sc.httpPort, simple(5), { ...auth, 'idempotency-key': 'k'.repeat(256) });
    assert.equal(long.status, 400);
    assert.match(String(long.body.message), /1 to 255 characters/);
    const key = { ...auth, 'idempotency-key': 'k'.repeat(255) };
    const first = await post(sc.httpPort, simple(5), key);
    assert.equal(first.status, 202);
    const again = await post(sc.httpPort, simple(5), key);
    assert.deepEqual([again.status, again.body.id], [200, first.body.id]);
    const other = await post(sc.httpPort, simple(6), key);
    assert.equal(other.status, 409);
    assert.equal(other.body.error, 'IdempotencyConflict');
  });

  it('caps recipients at both doors', async () => {
    const many = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `r${i}@example.org`);
    const r = await post(
      sc.httpPort,
      { to: many.slice(0, 60), bcc: many.slice(60), subject: 's', text: 'x' },
      auth,
    );
    assert.equal(r.status, 400);
    assert.match(String(r.body.message), new RegExp(`at most ${MAX_RECIPIENTS} recipients`));
    const replies = await smtpSession(sc.smtpPort, [
      'EHLO test.example',
      'MAIL FROM:<app@example.org>',
      ...many.map((a) => `RCPT TO:<${a}>`),
    ]);
    assert.match(replies.at(-2)!, /^250/);
    assert.match(replies.at(-1)!, /^452 4\.5\.3 Too many recipients/);
  });

  it('sends a non-ASCII local part with SMTPUTF8 and an IDN domain in ASCII form', async () => {
    const r = await post(
      sc.httpPort,
      { to: ['josé@example.org', 'a@bücher.example'], subject: 'utf8', text: 'x' },
      auth,
    );
    assert.equal(r.status, 202);
    const got = await waitFor(() => upstream.received.find((m) => m.headers.get('subject') === 'utf8'));
    assert.equal(got.smtpUtf8, true, 'MAIL FROM carried SMTPUTF8');
    // smtp-server turns the punycode domain it received back into Unicode when it reports it.
    assert.deepEqual(got.rcptTo, ['josé@example.org', 'a@bücher.example']);
  });
});
