/**
 * Each recipient has its own outcome. Against smtp-server (in process) and aiosmtpd (an outside
 * peer): a recipient greylisted at RCPT (451) is retried alone after the backoff while the others
 * are delivered at once; a recipient refused with 550 is abandoned with the server's reply while the
 * rest are delivered; a message none of whose recipients can be delivered is abandoned. The API,
 * `mailroom deliveries` and the page show each recipient's state and last reply.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { formatLine } from '../../src/cli/deliveries.ts';
import { configFromFlags } from '../../src/sidecar/config.ts';
import type { MessageView } from '../../src/sidecar/types.ts';
import { startAiosmtpd } from '../support/aiosmtpd.ts';
import { getMessage, post, testSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function sidecarFor(port: number, retryBaseMs = 50) {
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const sc = await testSidecar(
    tmp.dir,
    configFromFlags({
      uri: `smtp://127.0.0.1:${port}/?disable_starttls=true`,
      from: 'no-reply@example.com',
      maxBackoffMs: 4 * retryBaseMs,
    }),
    { retryBaseMs },
  );
  cleanups.push(() => sc.stop());
  return sc;
}

const until = (port: number, id: string, state: MessageView['state']) =>
  waitFor(
    async () => {
      const v = await getMessage(port, id);
      return v.state === state ? v : undefined;
    },
    15_000,
    `message ${state}`,
  );

describe('per-recipient outcomes', () => {
  it('retries only the greylisted recipient (smtp-server), and shows each recipient', async () => {
    const seen = new Set<string>();
    const upstream = await startUpstream({
      rcpt: (a) => {
        if (a !== 'grey@example.org' || seen.has(a)) return undefined;
        seen.add(a);
        return { code: 451, text: '4.7.1 Greylisted, please try again later' };
      },
    });
    cleanups.push(() => upstream.close());
    // A backoff long enough to look at the deferred message before its second attempt.
    const sc = await sidecarFor(upstream.port, 2000);
    const { body } = await post(sc.httpPort, {
      to: ['ok@example.org', 'grey@example.org'],
      subject: 'greylist',
      text: 'x',
    });
    const id = String(body.id);
    const deferred = await until(sc.httpPort, id, 'deferred');
    assert.deepEqual(
      deferred.recipientStates.map((r) => [r.address, r.state, r.code]),
      [
        ['ok@example.org', 'sent', 250],
        ['grey@example.org', 'pending', 451],
      ],
    );
    assert.match(deferred.recipientStates[1]!.reply ?? '', /Greylisted/);
    assert.match(deferred.reason ?? '', /for 1 of 2 recipients/);
    assert.match(formatLine(deferred), /pending +grey@example\.org +451 4\.7\.1 Greylisted/);
    const page = await (await fetch(`http://127.0.0.1:${sc.httpPort}/`)).text();
    assert.match(
      page,
      /grey@example\.org <small>pending<\/small> <span class="reply">451 4\.7\.1 Greylisted/,
    );

    const sent = await until(sc.httpPort, id, 'sent');
    assert.deepEqual(
      sent.recipientStates.map((r) => r.state),
      ['sent', 'sent'],
    );
    assert.deepEqual(
      upstream.received.map((m) => m.rcptTo),
      [['ok@example.org'], ['grey@example.org']],
      'the second attempt went to the greylisted recipient only',
    );
  });

  it('abandons a recipient refused with 550 and delivers the others', async () => {
    const upstream = await startUpstream({
      rcpt: (a) => (a === 'gone@example.org' ? { code: 550, text: '5.1.1 No such user' } : undefined),
    });
    cleanups.push(() => upstream.close());
    const sc = await sidecarFor(upstream.port);
    const { body } = await post(sc.httpPort, {
      to: ['a@example.org', 'gone@example.org'],
      subject: 's',
      text: 'x',
    });
    const v = await until(sc.httpPort, String(body.id), 'sent');
    assert.deepEqual(
      v.recipientStates.map((r) => [r.state, r.code]),
      [
        ['sent', 250],
        ['abandoned', 550],
      ],
    );
    assert.match(v.recipientStates[1]!.reply ?? '', /No such user/);
    assert.match(v.reason ?? '', /1 recipient refused for good/);
    assert.equal(upstream.received.length, 1);
  });

  it('abandons a message when every recipient is refused for good', async () => {
    const upstream = await startUpstream({ rcpt: () => ({ code: 550, text: '5.1.1 No such user' }) });
    cleanups.push(() => upstream.close());
    const sc = await sidecarFor(upstream.port);
    const { body } = await post(sc.httpPort, {
      to: ['x@example.org', 'y@example.org'],
      subject: 's',
      text: 'x',
    });
    const v = await until(sc.httpPort, String(body.id), 'abandoned');
    assert.deepEqual(
      v.recipientStates.map((r) => r.state),
      ['abandoned', 'abandoned'],
    );
    assert.match(v.reason ?? '', /permanent failure/);
  });

  it('retries only the greylisted recipient against aiosmtpd (an outside peer)', async () => {
    const peer = await startAiosmtpd({ greylist: ['grey@example.org'] });
    cleanups.push(() => peer.close());
    const sc = await sidecarFor(peer.port);
    const { body } = await post(sc.httpPort, {
      to: ['ok@example.org', 'grey@example.org', 'also@example.org'],
      subject: 'outside greylist',
      text: 'x',
    });
    const id = String(body.id);
    const sent = await until(sc.httpPort, id, 'sent');
    assert.deepEqual(
      sent.recipientStates.map((r) => r.state),
      ['sent', 'sent', 'sent'],
    );
    assert.equal(sent.attempts.length, 2);
    const ours = peer.messages.filter((m) => m.messageId.includes(id));
    assert.deepEqual(
      ours.map((m) => m.rcpts),
      [['ok@example.org', 'also@example.org'], ['grey@example.org']],
    );
  });
});
