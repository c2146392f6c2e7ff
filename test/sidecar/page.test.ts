/**
 * The delivery log a person reads: the HTML page at `/` in headless Chromium (Debian's), and
 * `mailroom deliveries` against the same sidecar.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { formatLine, runDeliveries } from '../../src/cli/deliveries.ts';
import { configFromFlags } from '../../src/sidecar/config.ts';
import type { Sidecar } from '../../src/sidecar/sidecar.ts';
import { getMessage, post, testSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, type Upstream, waitFor } from '../support/sidecar-upstream.ts';

describe('delivery log', () => {
  let upstream: Upstream;
  let sc: Sidecar;
  const tmp = tempDir();
  let okId = '';
  let badId = '';

  before(async () => {
    upstream = await startUpstream({
      reply: (_n, raw) =>
        raw.includes('To: nobody@example.org')
          ? { code: 550, text: '5.1.1 <nobody@example.org>: no such user' }
          : undefined,
    });
    sc = await testSidecar(
      tmp.dir,
      configFromFlags({
        uri: `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`,
        from: 'no-reply@example.com',
      }),
    );
    okId = String(
      (
        await post(sc.httpPort, {
          to: 'alice@example.org',
          subject: '<script>window.pwned=1</script>',
          text: 'x',
        })
      ).body.id,
    );
    badId = String(
      (await post(sc.httpPort, { to: 'nobody@example.org', subject: 'Welcome', text: 'x' })).body.id,
    );
    await waitFor(async () => (await getMessage(sc.httpPort, okId)).state === 'sent');
    await waitFor(async () => (await getMessage(sc.httpPort, badId)).state === 'abandoned');
  });
  after(async () => {
    await sc.stop();
    await upstream.close();
    tmp.remove();
  });

  it('shows state counts and the reason of each failure in a browser', { timeout: 60_000 }, async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${sc.httpPort}/`);
      assert.equal(await page.title(), 'Mailroom delivery log');
      assert.equal(await page.locator('li[data-state="sent"] b').textContent(), '1');
      assert.equal(await page.locator('li[data-state="abandoned"] b').textContent(), '1');
      const bad = page.locator(`tr[data-id="${badId}"]`);
      assert.equal(await bad.locator('td.state').textContent(), 'abandoned');
      assert.match(
        (await bad.locator('td.why').textContent()) ?? '',
        /permanent failure: the server answered 550: 550 5\.1\.1 <nobody@example\.org>: no such user/,
      );
      // The subject is shown as text, never run.
      const ok = page.locator(`tr[data-id="${okId}"]`);
      assert.match((await ok.textContent()) ?? '', /<script>window\.pwned=1<\/script>/);
      assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
      assert.match(
        (await page.locator('p.config').textContent()) ?? '',
        /Delivering to 127\.0\.0\.1:\d+ \(Plaintext\)/,
      );
    } finally {
      await browser.close();
    }
  });

  it('prints the log with mailroom deliveries, filtered by state', async () => {
    const lines: string[] = [];
    await runDeliveries(
      {
        api: `http://127.0.0.1:${sc.httpPort}`,
        state: 'abandoned',
        limit: 10,
        follow: false,
        json: false,
        intervalMs: 100,
      },
      (l) => lines.push(l),
    );
    assert.match(lines[0] ?? '', /^# queued 0, sending 0, sent 1, deferred 0, abandoned 1/);
    assert.equal(lines.length, 2);
    assert.match(
      lines[1] ?? '',
      /abandoned .*nobody@example\.org .*"Welcome" +1 attempt +permanent failure.*550 5\.1\.1/,
    );
  });

  it('follows changes until stopped', async () => {
    const lines: string[] = [];
    const ac = new AbortController();
    const following = runDeliveries(
      {
        api: `http://127.0.0.1:${sc.httpPort}`,
        limit: 10,
        follow: true,
        json: true,
        intervalMs: 50,
        signal: ac.signal,
      },
      (l) => lines.push(l),
    );
    await waitFor(() => lines.length >= 2);
    const before = lines.length;
    const id = String(
      (await post(sc.httpPort, { to: 'carol@example.org', subject: 'Later', text: 'x' })).body.id,
    );
    await waitFor(() => lines.slice(before).some((l) => l.includes(id) && l.includes('"state":"sent"')));
    ac.abort();
    await following;
  });

  it('formats a deferred message with its reason and last reply', () => {
    const line = formatLine({
      id: '0123456789abcdef',
      state: 'deferred',
      door: 'smtp',
      recipients: ['a@example.org'],
      recipientStates: [{ address: 'a@example.org', state: 'pending' }],
      subject: 'Hi',
      size: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:01.000Z',
      reason: 'attempt 1 of 6 failed; retrying in 5s',
      attempts: [
        {
          at: '2026-01-01T00:00:00.000Z',
          code: null,
          reply: 'ECONNECTION: connect ECONNREFUSED',
          durationMs: 2,
        },
      ],
    });
    assert.match(
      line,
      /deferred +01234567 +a@example\.org +"Hi" +1 attempt +attempt 1 of 6 failed; retrying in 5s — no reply: ECONNECTION/,
    );
  });
});
