import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FakeKube,
  fakeDeps,
  scriptedProbe,
  sender,
  statusFeedbackRunner,
} from '../../../test/support/controller-fakes.ts';
import type { EmailSender } from '../../api/emailsender.ts';
import type { ProbeResult } from '../../smtp/probe-result.ts';
import { RequeueError } from '../errors.ts';
import { createReconciler, REQUESTED_AT } from '../sync.ts';

const URI = 'smtp://mailer:wrong-pw@smtp.example.com:587/';
const INTERVAL = 60_000;

/** A reconciler whose probe answers AUTH with `code` (0: accepted). */
function setup() {
  let code = 535;
  const kube = new FakeKube();
  const senders = new Map<string, EmailSender>();
  const probe = scriptedProbe(
    (): Partial<ProbeResult> =>
      code === 0
        ? {}
        : {
            ok: false,
            reason: 'AuthenticationFailed',
            step: 'auth',
            replyCode: code,
            message: `rejected with ${code}`,
          },
  );
  const env = fakeDeps({ senders, kube, probe: probe.fn });
  const reconcile = createReconciler(env.deps);
  const run = statusFeedbackRunner(reconcile, kube, senders);
  const answer = (c: number) => {
    code = c;
  };
  return { ...env, probe, run, answer };
}

const cond = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);

describe('a rejected login (5xx to AUTH) is not retried before the probe interval (issue 11)', () => {
  test('Ready=False, one timed requeue at the interval ±10%, no backoff', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('a', { probe: { interval: '60s' } });
    const result = await t.run(s);
    assert.ok(result.requeueAfterMs! >= 0.9 * INTERVAL && result.requeueAfterMs! <= 1.1 * INTERVAL);
    assert.equal(cond(s, 'Ready')?.reason, 'AuthenticationFailed');
    assert.equal(cond(s, 'Reconciling')?.reason, 'ProgressingWithRetry');
    assert.match(
      cond(s, 'Reconciling')!.message,
      /retrying in 1m .*not sooner.*changing the Secret retries at once/,
    );
    assert.equal(cond(s, 'Stalled'), undefined);
  });

  test('any reconcile inside the interval, of this or another sender with the same credentials, does not log in', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    t.kube.setSecret('mail', 'smtp-copy', { uri: URI });
    const a = sender('a', { probe: { interval: '60s' } });
    await t.run(a);
    t.clock.advance(5_000);
    await t.run(a);
    // Other probe options (timeout) and another Secret: still the same credentials.
    const b = sender('b', {
      smtp: { uriSecretRef: { name: 'smtp-copy' } },
      probe: { interval: '60s', timeout: '3s' },
    });
    await t.run(b);
    t.clock.advance(0.8 * INTERVAL); // 53 s after the rejection: still inside 90% of it
    await t.run(a);
    assert.equal(t.probe.calls.length, 1, 'one login in the interval');
    assert.equal(cond(b, 'Ready')?.reason, 'AuthenticationFailed');
    t.clock.advance(0.06 * INTERVAL);
    await t.run(a);
    assert.equal(t.probe.calls.length, 2, 'the interval is over: log in again');
  });

  test('a changed Secret logs in at once, even with the same password', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('a', { probe: { interval: '60s' } });
    await t.run(s);
    t.clock.advance(1_000);
    t.answer(0); // the password was reset at the provider; the Secret is touched to retry
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    await t.run(s);
    assert.equal(t.probe.calls.length, 2);
    assert.equal(cond(s, 'Ready')?.status, 'True');
  });

  test('a reconcile asked for by a person (requestedAt) logs in at once', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('a', { probe: { interval: '60s' } });
    await t.run(s);
    s.metadata.annotations = { [REQUESTED_AT]: 'now' };
    await t.run(s);
    assert.equal(t.probe.calls.length, 2);
  });

  test('a temporary failure (4xx) keeps the short backoff', async () => {
    const t = setup();
    t.answer(454);
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('a', { probe: { interval: '60s' } });
    await assert.rejects(
      t.run(s),
      (err: unknown) => err instanceof RequeueError && err.maxBackoffMs === INTERVAL,
    );
    t.clock.advance(2_500); // past the 2 s a failure is shared
    await assert.rejects(t.run(s), RequeueError);
    assert.equal(t.probe.calls.length, 2, 'retried on the backoff');
    assert.equal(cond(s, 'Reconciling')?.message, 'retrying with backoff after AuthenticationFailed');
  });
});
