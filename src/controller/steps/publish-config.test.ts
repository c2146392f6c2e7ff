import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeKube, fakeDeps, sender, statusFeedbackRunner } from '../../../test/support/controller-fakes.ts';
import type { EmailSender } from '../../api/emailsender.ts';
import { createReconciler } from '../sync.ts';

const URI = 'smtp://mailer:pw@smtp.example.com:587/';

function setup() {
  const kube = new FakeKube();
  const senders = new Map<string, EmailSender>();
  const env = fakeDeps({ senders, kube });
  const reconcile = createReconciler(env.deps);
  const run = statusFeedbackRunner(reconcile, kube, senders);
  return { ...env, run };
}

const cond = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);

describe('publish-config writes only a Secret the sender controls (issue 11)', () => {
  test('a foreign <name>-mailroom is left untouched: Stalled ConfigSecretConflict naming what to do; freed, it publishes', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    t.kube.foreign.set('mail/identity-mailroom', 'Deployment "billing"');
    const s = sender('identity');
    assert.deepEqual(await t.run(s), {}, 'no requeue: the Secret informer brings it back');
    assert.equal(cond(s, 'Ready')?.status, 'False');
    assert.equal(cond(s, 'Ready')?.reason, 'ConfigSecretConflict');
    assert.equal(cond(s, 'Stalled')?.status, 'True');
    assert.equal(cond(s, 'Stalled')?.reason, 'ConfigSecretConflict');
    assert.match(
      cond(s, 'Ready')!.message,
      /Secret "identity-mailroom" already exists and is controlled by Deployment "billing".*Rename or delete that Secret \(or rename this EmailSender\)/,
    );
    assert.equal(t.kube.configs.size, 0, 'nothing written');
    assert.equal(s.status?.config, undefined);
    assert.deepEqual(
      t.events.map((e) => `${e.note.type}/${e.note.reason}`),
      ['Warning/ConfigSecretConflict'],
    );

    t.kube.foreign.delete('mail/identity-mailroom');
    await t.run(s);
    assert.equal(cond(s, 'Ready')?.reason, 'Verified');
    assert.equal(cond(s, 'Stalled'), undefined);
    assert.equal(t.kube.configs.get('mail/identity-mailroom')?.owner.uid, 'uid-identity');
  });

  test('a Secret with no controller at all is foreign too', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    t.kube.foreign.set('mail/identity-mailroom', undefined);
    const s = sender('identity');
    await t.run(s);
    assert.match(cond(s, 'Ready')!.message, /is not controlled by any object, not by this EmailSender/);
  });

  test('the config of a sender deleted and created again (new uid) is not taken over before GC removes it', async () => {
    const t = setup();
    t.kube.setSecret('mail', 'smtp', { uri: URI });
    await t.run(sender('identity'));
    const again = sender('identity', {}, { uid: 'uid-identity-2' });
    await t.run(again);
    assert.equal(cond(again, 'Ready')?.reason, 'ConfigSecretConflict');
    assert.equal(t.kube.configs.get('mail/identity-mailroom')?.owner.uid, 'uid-identity');
  });
});
