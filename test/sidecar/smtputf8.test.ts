/**
 * SMTPUTF8 against real smtp-server upstreams, with and without the extension (`hideSMTPUTF8`).
 * The sidecar learns what the upstream offers when its config loads, before any message:
 *
 * - without SMTPUTF8, both doors refuse an address with a non-ASCII local part at once (HTTP 422
 *   naming the field, SMTP `553 5.6.7` at RCPT TO) and nothing is queued;
 * - with it, such an address is accepted;
 * - while it is not known (the upstream could not be reached), such mail is accepted, is never sent
 *   blind, and once the upstream answers without SMTPUTF8 that recipient is abandoned with a reason
 *   that says why, while the ASCII recipient of the same message is delivered.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { configFromFlags } from '../../src/sidecar/config.ts';
import { freePort, getMessage, post, testSidecar } from '../support/sidecar-harness.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function sidecarFor(port: number) {
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const sc = await testSidecar(
    tmp.dir,
    configFromFlags({ uri: `smtp://127.0.0.1:${port}/?disable_starttls=true`, from: 'no-reply@example.com' }),
  );
  cleanups.push(() => sc.stop());
  return sc;
}

describe('SMTPUTF8', () => {
  it('refuses a non-ASCII local part at both doors when the upstream lacks SMTPUTF8', async () => {
    const upstream = await startUpstream({ smtputf8: false });
    cleanups.push(() => upstream.close());
    const sc = await sidecarFor(upstream.port);
    await waitFor(() => sc.worker.smtputf8 === false, 10_000, 'the upstream EHLO to be learned');

    const r = await post(sc.httpPort, {
      to: ['ok@example.org', 'josé@example.org'],
      subject: 's',
      text: 'x',
    });
    assert.equal(r.status, 422);
    assert.equal(r.body.error, 'SMTPUTF8Unavailable');
    assert.equal(r.body.field, 'to.1');
    assert.match(String(r.body.message), /josé@example\.org is not ASCII.*does not offer SMTPUTF8/);
    const cc = await post(sc.httpPort, {
      to: 'ok@example.org',
      cc: 'José <josé@example.org>',
      subject: 's',
      text: 'x',
    });
    assert.equal(cc.status, 422);
    assert.equal(cc.body.field, 'cc');
    // An IDN domain needs no SMTPUTF8: it is accepted.
    const idn = await post(sc.httpPort, { to: 'a@bücher.example', subject: 's', text: 'x' });
    assert.equal(idn.status, 202);

    const replies = await smtpSession(sc.smtpPort, [
      'EHLO t.example',
      'MAIL FROM:<app@example.org> SMTPUTF8',
      'RCPT TO:<ok@example.org>',
      'RCPT TO:<josé@example.org>',
    ]);
    assert.match(replies.at(-2)!, /^250/);
    assert.match(replies.at(-1)!, /^553 5\.6\.7 the local part of josé@example\.org is not ASCII/);
    const counts = sc.store.counts();
    assert.equal(counts.queued + counts.sending + counts.sent + counts.deferred + counts.abandoned, 1);
  });

  it('accepts a non-ASCII local part when the upstream offers SMTPUTF8', async () => {
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const sc = await sidecarFor(upstream.port);
    await waitFor(() => sc.worker.smtputf8 === true, 10_000, 'the upstream EHLO to be learned');
    const replies = await smtpSession(sc.smtpPort, [
      'EHLO t.example',
      'MAIL FROM:<app@example.org> SMTPUTF8',
      'RCPT TO:<josé@example.org>',
    ]);
    assert.match(replies.at(-1)!, /^250/);
  });

  it('accepts while it is not known, never sends blind, and abandons only that recipient', async () => {
    const port = await freePort();
    const sc = await sidecarFor(port);
    const { status, body } = await post(sc.httpPort, {
      to: ['josé@example.org', 'ok@example.org'],
      subject: 'unknown',
      text: 'x',
    });
    assert.equal(status, 202, 'not known yet: accepted');
    const id = String(body.id);
    const waiting = await waitFor(async () => {
      const m = await getMessage(sc.httpPort, id);
      return m.state === 'deferred' ? m : undefined;
    });
    assert.match(
      waiting.attempts[0]?.reply ?? '',
      /whether the upstream server offers SMTPUTF8 is not known yet/,
    );

    const upstream = await startUpstream({ port, smtputf8: false });
    cleanups.push(() => upstream.close());
    const done = await waitFor(
      async () => {
        const m = await getMessage(sc.httpPort, id);
        return m.state === 'sent' ? m : undefined;
      },
      20_000,
      'the message to be sent',
    );
    const [jose, ok] = done.recipientStates;
    assert.equal(jose?.state, 'abandoned');
    assert.match(jose?.reply ?? '', /needs SMTPUTF8.*does not offer SMTPUTF8/);
    assert.equal(ok?.state, 'sent');
    assert.match(done.reason ?? '', /1 recipient refused for good/);
    assert.deepEqual(
      upstream.received.map((m) => m.rcptTo),
      [['ok@example.org']],
    );
    assert.equal(sc.worker.smtputf8, false);
  });
});
