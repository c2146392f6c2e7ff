import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  FakeKube,
  fakeDeps,
  scriptedProbe,
  sender,
  statusFeedbackRunner,
} from '../../test/support/controller-fakes.ts';
import type { EmailSender, EmailSenderStatus } from '../api/emailsender.ts';
import { configRevision } from '../api/rendered-config.ts';
import { createDeliverabilityChecker } from '../deliverability/checker.ts';
import { RequeueError } from './errors.ts';
import { createReconciler, REQUESTED_AT, senderChangeNeedsReconcile } from './sync.ts';

const PASSWORD = 'pa55-w0rd/with?odd@chars';
const URI = `smtp://mailer:${encodeURIComponent(PASSWORD)}@smtp.example.com:587/`;

function setup(probeScript?: Parameters<typeof scriptedProbe>[0], kube = new FakeKube()) {
  const senders = new Map<string, EmailSender>();
  const probe = scriptedProbe(probeScript);
  const env = fakeDeps({ senders, kube, probe: probe.fn });
  const reconcile = createReconciler(env.deps);
  const put = (s: EmailSender) => senders.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  /** Reconciles, then feeds the written status back as the informer would. */
  const run = statusFeedbackRunner(reconcile, kube, senders);
  return { ...env, probe, run, put, reconcile };
}

const cond = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);

describe('reconcile', () => {
  test('a reachable server: Ready=True, endpoint, security, lastProbe, config published, requeue ±10%', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('identity');
    const result = await t.run(s);
    assert.ok(result.requeueAfterMs! >= 540_000 && result.requeueAfterMs! <= 660_000);
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'Ready')?.reason, 'Verified');
    assert.equal(cond(s, 'Ready')?.observedGeneration, 1);
    assert.equal(cond(s, 'Stalled'), undefined);
    assert.equal(cond(s, 'Reconciling'), undefined);
    assert.equal(s.status?.observedGeneration, 1);
    assert.equal(s.status?.endpoint, 'smtp.example.com:587');
    assert.equal(s.status?.security, 'StartTLS');
    assert.equal(s.status?.lastProbe?.result, 'Verified');
    assert.equal(s.status?.lastProbe?.tls?.version, 'TLSv1.3');
    const config = t.kube.configs.get('mail/identity-mailroom');
    assert.ok(config);
    assert.equal(config.owner.uid, 'uid-identity');
    assert.equal(JSON.parse(config.body).smtp.uri, URI, 'the config itself holds the URI');
    assert.deepEqual(s.status?.config, {
      secretName: 'identity-mailroom',
      revision: config.revision,
      publishedAt: '2026-05-01T10:00:00Z',
    });
    assert.equal(t.probe.calls[0]?.opts?.localName, 'controller.test');
    assert.deepEqual(
      t.events.map((e) => e.note.reason),
      ['Verified'],
    );
    assert.match(
      t.events[0]!.note.note,
      /AUTH PLAIN accepted.*; published config revision \w+ to Secret identity-mailroom/,
    );
  });

  test('nothing changed: no status write, no event, the probe is shared', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('identity');
    await t.run(s);
    await t.run(s);
    assert.equal(t.kube.statusPatches.length, 1);
    assert.equal(t.events.length, 1);
    assert.equal(t.probe.calls.length, 1);
    const other = sender('other');
    await t.run(other);
    assert.equal(t.probe.calls.length, 1, 'same endpoint and credentials: one probe');
    assert.deepEqual(other.status?.lastProbe, s.status?.lastProbe);
  });

  test('missing Secret, then missing key: Stalled, no requeue, nothing published', async () => {
    const t = setup();
    const s = sender('identity');
    assert.deepEqual(await t.run(s), {});
    assert.equal(cond(s, 'Ready')?.status, 'False');
    assert.equal(cond(s, 'Ready')?.reason, 'SecretNotFound');
    assert.equal(cond(s, 'Stalled')?.status, 'True');
    assert.match(cond(s, 'Ready')!.message, /Secret "smtp".*not found in namespace "mail"/);
    t.kube.setSecret('mail', 'smtp', { url: URI });
    await t.run(s);
    assert.equal(cond(s, 'Ready')?.reason, 'SecretKeyNotFound');
    assert.match(cond(s, 'Ready')!.message, /has no key "uri"; it has "url"/);
    assert.equal(t.kube.configs.size, 0);
    assert.equal(t.probe.calls.length, 0);
  });

  test('invalid URI: Stalled=True with InvalidURI; fixing it clears Stalled', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: `smtp://mailer:${PASSWORD}@smtp.example.com:587/?tls=yes` });
    const s = sender('identity');
    await t.run(s);
    assert.equal(cond(s, 'Ready')?.reason, 'InvalidURI');
    assert.equal(cond(s, 'Stalled')?.status, 'True');
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    await t.run(s);
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'Stalled'), undefined);
  });

  test('a failed probe: Ready=False with its reason, Reconciling=True, retry capped at the interval; config kept', async () => {
    let fail = false;
    const t = setup(() =>
      fail
        ? { ok: false, reason: 'AuthenticationFailed', message: `535 rejected ${PASSWORD}`, step: 'auth' }
        : {},
    );
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('identity', { probe: { interval: '30s' } });
    await t.run(s);
    const published = structuredClone(t.kube.configs.get('mail/identity-mailroom'));
    fail = true;
    t.kube.setSecret('mail', 'smtp', { uri: URI.replace('mailer', 'other') });
    await assert.rejects(t.run(s), (err: RequeueError) => {
      assert.ok(err instanceof RequeueError);
      assert.equal(err.maxBackoffMs, 30_000);
      return true;
    });
    assert.equal(cond(s, 'Ready')?.status, 'False');
    assert.equal(cond(s, 'Ready')?.reason, 'AuthenticationFailed');
    assert.equal(cond(s, 'Reconciling')?.reason, 'ProgressingWithRetry');
    assert.deepEqual(t.kube.configs.get('mail/identity-mailroom'), published, 'last known good kept');
    assert.equal(s.status?.config?.revision, published?.revision);
    assert.ok(s.status?.config?.desiredRevision);
    assert.notEqual(s.status?.config?.desiredRevision, published?.revision);
    assert.deepEqual(
      t.events.map((e) => `${e.note.type}/${e.note.reason}`),
      ['Normal/Verified', 'Warning/AuthenticationFailed'],
    );
  });

  test('InsecureTLS and CertificateExpiringSoon follow the URI and the probe', async () => {
    let expiring = true;
    const t = setup(() =>
      expiring ? { warnings: [{ code: 'CertificateExpiringSoon', message: 'expires in 5 days' }] } : {},
    );
    t.kube.setSecret('mail', 'smtp', { uri: `${URI}?skip_ssl_verify=true` });
    const s = sender('identity');
    await t.run(s);
    assert.equal(cond(s, 'InsecureTLS')?.reason, 'CertificateNotVerified');
    assert.equal(cond(s, 'CertificateExpiringSoon')?.status, 'True');
    assert.equal(s.status?.security, 'StartTLSInsecure');
    expiring = false;
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    await t.run(s);
    assert.equal(cond(s, 'InsecureTLS'), undefined);
    assert.equal(cond(s, 'CertificateExpiringSoon'), undefined);
  });

  test('requestedAt forces a fresh probe and is echoed to lastHandledReconcileAt', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('identity');
    await t.run(s);
    s.metadata.annotations = { [REQUESTED_AT]: '2026-05-01T10:05:00Z' };
    t.clock.advance(1000);
    await t.run(s);
    assert.equal(t.probe.calls.length, 2);
    assert.equal(s.status?.lastHandledReconcileAt, '2026-05-01T10:05:00Z');
    await t.run(s);
    assert.equal(t.probe.calls.length, 2, 'handled once');
  });

  test('suspended: no probe, no write', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    assert.deepEqual(await t.run(sender('identity', { suspend: true })), {});
    assert.equal(t.probe.calls.length, 0);
    assert.equal(t.kube.statusPatches.length, 0);
  });

  test('a slow probe of a new generation shows Reconciling=True first', async () => {
    const kube = new FakeKube();
    const senders = new Map<string, EmailSender>();
    const slow = scriptedProbe();
    const env = fakeDeps({
      senders,
      kube,
      probe: async (e, o) => {
        await new Promise((r) => setTimeout(r, 30));
        return slow.fn(e, o);
      },
    });
    const reconcile = createReconciler({ ...env.deps, progressDelayMs: 5 });
    kube.setSecret('mail', 'smtp', { uri: URI });
    senders.set('mail/identity', sender('identity'));
    await reconcile('mail/identity');
    assert.equal(kube.statusPatches.length, 2);
    const first = kube.statusPatches[0]!.status as EmailSenderStatus;
    assert.equal(first.conditions?.find((c) => c.type === 'Reconciling')?.status, 'True');
    assert.equal(first.conditions?.find((c) => c.type === 'Ready')?.status, 'Unknown');
    assert.equal(first.observedGeneration, undefined);
    assert.equal(kube.statusPatches[1]!.resourceVersion, '101', 'second write guarded by the new version');
  });

  test('no status, event or log line holds the password', async () => {
    const t = setup(() => ({
      ok: false,
      reason: 'AuthenticationFailed',
      message: `bad ${PASSWORD}`,
      step: 'auth',
    }));
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    await t.run(sender('identity')).catch(() => {});
    t.kube.setSecret('mail', 'smtp', { uri: `smtp://mailer:${PASSWORD}@host/?bad=1` });
    await t.run(sender('two')).catch(() => {});
    const everything = JSON.stringify([t.kube.statusPatches, t.events, t.lines]);
    assert.ok(t.kube.statusPatches.length >= 2);
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD)])
      assert.equal(everything.includes(form), false);
  });

  test('DNS never delays Ready: status is written at once, Deliverable lands on the follow-up (issue 7)', {
    timeout: 5000,
  }, async () => {
    // A DNS server that never answers, until the test lets every query time out.
    const held: Array<() => void> = [];
    const resolver = () =>
      new Promise<unknown[]>((_resolve, reject) =>
        held.push(() => reject(Object.assign(new Error('query ETIMEOUT'), { code: 'ETIMEOUT' }))),
      );
    const t = setup();
    t.deps.checkDeliverability = createDeliverabilityChecker({ resolver, clock: t.clock });
    t.deps.deliverabilityWaitMs = 20;
    const reconcile = createReconciler(t.deps);
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('quiet');
    t.put(s);
    const first = await reconcile('mail/quiet');
    assert.equal(t.kube.statusPatches.length, 1, 'written without waiting for DNS');
    s.status = t.kube.statusPatches[0]!.status as EmailSenderStatus;
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'Deliverable'), undefined, 'no Deliverable while the check runs');
    assert.ok(first.requeueAfterMs! >= 540_000, 'the timed requeue is kept');
    assert.ok(first.requeueWhen, 'asks to be reconciled when the check is done');
    assert.ok(held.length > 0, 'the check is running');

    // The resolver settles: the reconcile it asks for writes Deliverable, without a second probe.
    while (held.length) held.shift()!();
    assert.equal(await first.requeueWhen, true);
    const second = await t.run(s);
    assert.equal(second.requeueWhen, undefined);
    assert.equal(t.kube.statusPatches.length, 2);
    assert.equal(cond(s, 'Deliverable')?.status, 'Unknown');
    assert.equal(cond(s, 'Deliverable')?.reason, 'DNSLookupFailed');
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(t.probe.calls.length, 1, 'the probe result is shared');
    assert.equal(held.length, 0, 'the report is reused, DNS not asked again');

    // A later check that hangs again keeps the previous Deliverable meanwhile.
    t.clock.advance(400_000);
    await t.run(s);
    assert.equal(cond(s, 'Deliverable')?.reason, 'DNSLookupFailed');
    while (held.length) held.shift()!();
  });

  test('a password-only rotation republishes; the public revision does not verify password guesses', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    const s = sender('identity');
    await t.run(s);
    const first = t.kube.configs.get('mail/identity-mailroom')!;
    assert.equal(s.status?.config?.revision, first.revision);

    t.kube.setSecret('mail', 'smtp', { uri: URI.replace(encodeURIComponent(PASSWORD), 'rotated-pw') });
    await t.run(s);
    const second = t.kube.configs.get('mail/identity-mailroom')!;
    assert.notEqual(second.revision, first.revision, 'new password, new revision');
    assert.equal(s.status?.config?.revision, second.revision, 'republished');

    // Everything in the published body but the password is in the spec, or is the sender's own
    // identity: an unkeyed hash of it would let a reader of the status test guesses offline.
    const { revision, ...body } = JSON.parse(second.body);
    assert.equal(revision, second.revision);
    const sorted = JSON.stringify(body, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
        : v,
    );
    assert.notEqual(
      createHash('sha256').update(sorted).digest('hex').slice(0, 16),
      s.status?.config?.revision,
    );
    for (const visible of [s.metadata.uid!, 'mail/identity', 'identity-mailroom'])
      assert.notEqual(configRevision(body, visible), s.status?.config?.revision);
    // Keyed by the uid of the Secret the URI came from, which only readers of that Secret see.
    assert.equal(configRevision(body, t.kube.uids.get('mail/smtp')!), s.status?.config?.revision);
  });
});

test('an API error that echoes the config body is thrown (and so logged) without the password', async () => {
  const kube = new FakeKube();
  // An API server refusing the write and quoting what it was sent, as a 422 can.
  kube.writeConfigSecret = async (secret) => {
    throw Object.assign(new Error(`Secret "${secret.name}" is invalid: ${secret.body}`), { code: 422 });
  };
  const t = setup(undefined, kube);
  t.kube.setSecret('mail', 'smtp', { uri: URI });
  await assert.rejects(t.run(sender('identity')), (err: Error & { code?: number; cause?: Error }) => {
    const all = `${err.message}\n${err.stack}\n${err.cause?.message ?? ''}\n${err.cause?.stack ?? ''}`;
    assert.match(err.message, /is invalid/);
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD), URI])
      assert.equal(all.includes(form), false, all);
    return true;
  });
});

describe('senderChangeNeedsReconcile', () => {
  test('a new sender, a spec change, `flux reconcile` and a deletion do; our own status write does not', () => {
    const old = sender('identity');
    old.metadata.generation = 3;
    const next = (edit: (s: EmailSender) => void) => {
      const s = structuredClone(old);
      edit(s);
      return s;
    };
    assert.equal(senderChangeNeedsReconcile('add', old, undefined), true);
    assert.equal(
      senderChangeNeedsReconcile(
        'update',
        next((s) => (s.metadata.generation = 4)),
        old,
      ),
      true,
    );
    assert.equal(
      senderChangeNeedsReconcile(
        'update',
        next((s) => (s.metadata.annotations = { [REQUESTED_AT]: 'now' })),
        old,
      ),
      true,
    );
    assert.equal(
      senderChangeNeedsReconcile(
        'update',
        next((s) => (s.metadata.deletionTimestamp = '2026-11-29T00:00:00Z')),
        old,
      ),
      true,
    );
    const statusOnly = next((s) => (s.status = { observedGeneration: 3, conditions: [] }));
    assert.equal(senderChangeNeedsReconcile('update', statusOnly, old), false);
  });
});
