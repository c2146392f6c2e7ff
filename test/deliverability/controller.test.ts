/**
 * The Deliverable condition through the real reconciler (fake API server, scripted probe) and a real
 * DNS server on loopback: computed beside the probe, separate from Ready, published with the DKIM
 * key in the rendered config, and Unknown (Ready untouched and not delayed) when DNS does not answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EmailSender, EmailSenderStatus } from '../../src/api/emailsender.ts';
import { createReconciler } from '../../src/controller/sync.ts';
import { createDeliverabilityChecker } from '../../src/deliverability/checker.ts';
import { FakeKube, fakeDeps, scriptedProbe, sender } from '../support/controller-fakes.ts';
import {
  type DeliverabilityDns,
  DOMAINS,
  SELECTOR,
  SMTP_HOST,
  startDeliverabilityDns,
  startSilentDns,
} from '../support/dns-zones.ts';

let dns: DeliverabilityDns;
before(async () => {
  dns = await startDeliverabilityDns();
});
after(async () => {
  await dns?.close();
});

// Loopback DNS answers in milliseconds; the long wait keeps a loaded machine from splitting the
// first reconcile in two. The silent server's test waits as the controller does.
function setup(servers: string[], timeoutMs = 1000, deliverabilityWaitMs = 5000) {
  const kube = new FakeKube();
  const senders = new Map<string, EmailSender>();
  const env = fakeDeps({ senders, kube, probe: scriptedProbe().fn });
  env.deps.checkDeliverability = createDeliverabilityChecker({ servers, timeoutMs, clock: env.clock });
  env.deps.deliverabilityWaitMs = deliverabilityWaitMs;
  const reconcile = createReconciler(env.deps);
  kube.setSecret('mail', 'smtp', { uri: `smtp://u:p@${SMTP_HOST}:587/` });
  kube.setSecret('mail', 'dkim', { 'private.pem': dns.signingKey });
  const run = async (s: EmailSender) => {
    senders.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    const n = kube.statusPatches.length;
    const result = await reconcile(`${s.metadata.namespace}/${s.metadata.name}`);
    if (kube.statusPatches.length > n) s.status = kube.statusPatches.at(-1)!.status as EmailSenderStatus;
    return result;
  };
  return { ...env, kube, run };
}

const cond = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);
const dkimSpec = { selector: SELECTOR, privateKeySecretRef: { name: 'dkim', key: 'private.pem' } };

describe('Deliverable in the reconciler', () => {
  it('aligned domain: Deliverable=True/Aligned beside Ready=True, records in status, key in the rendered config', async () => {
    const t = setup([dns.address]);
    const s = sender('identity', { from: { address: `no-reply@${DOMAINS.aligned}` }, dkim: dkimSpec });
    await t.run(s);
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'Deliverable')?.status, 'True');
    assert.equal(cond(s, 'Deliverable')?.reason, 'Aligned');
    assert.equal(cond(s, 'Deliverable')?.observedGeneration, 1);
    const d = s.status?.deliverability;
    assert.equal(d?.domain, DOMAINS.aligned);
    assert.equal(d?.spf?.result, 'pass');
    assert.equal(d?.dkim?.result, 'pass');
    assert.equal(d?.dmarc?.record, 'v=DMARC1; p=reject');
    assert.equal(d?.checkedAt, '2026-05-01T10:00:00Z');
    const config = JSON.parse(t.kube.configs.get('mail/identity-mailroom')!.body);
    assert.deepEqual(config.dkim, {
      selector: SELECTOR,
      domain: DOMAINS.aligned,
      privateKey: dns.signingKey,
    });
    // The key is in the config Secret only: never in status or events.
    const keyBody = dns.signingKey.split('\n')[1]!;
    assert.ok(!JSON.stringify(t.kube.statusPatches).includes(keyBody));
    assert.ok(!JSON.stringify(t.events).includes(keyBody));
    assert.equal(
      t.events.filter((e) => e.note.action === 'CheckDNS').length,
      0,
      'a healthy first check is quiet',
    );
  });

  it('DKIM key not published: Deliverable=False with the record, Ready still True, one Warning event', async () => {
    const t = setup([dns.address]);
    const s = sender('missing', { from: { address: `no-reply@${DOMAINS.dkimMissing}` }, dkim: dkimSpec });
    await t.run(s);
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'Deliverable')?.status, 'False');
    assert.equal(cond(s, 'Deliverable')?.reason, 'DKIMKeyMissing');
    assert.match(
      cond(s, 'Deliverable')!.message,
      new RegExp(
        `TXT ${SELECTOR}\\._domainkey\\.${DOMAINS.dkimMissing.replaceAll('.', '\\.')} "v=DKIM1; k=rsa; p=`,
      ),
    );
    const warnings = t.events.filter((e) => e.note.action === 'CheckDNS');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.note.type, 'Warning');
    // Re-reconciled within the interval: the report is reused, no second event.
    await t.run(s);
    assert.equal(t.events.filter((e) => e.note.action === 'CheckDNS').length, 1);
  });

  it('a DNS server that does not answer: Deliverable=Unknown/DNSLookupFailed and Ready=True', async () => {
    const silent = await startSilentDns();
    try {
      const t = setup([silent.address], 200, 250);
      const s = sender('dark', { from: { address: `no-reply@${DOMAINS.aligned}` }, dkim: dkimSpec });
      // Ready is written without waiting for the DNS timeouts; Deliverable follows when they pass.
      const first = await t.run(s);
      assert.equal(cond(s, 'Ready')?.status, 'True');
      assert.equal(cond(s, 'Ready')?.reason, 'Verified');
      assert.equal(cond(s, 'Deliverable'), undefined);
      assert.equal(await first.requeueWhen, true);
      await t.run(s);
      assert.equal(cond(s, 'Ready')?.reason, 'Verified');
      assert.equal(cond(s, 'Deliverable')?.status, 'Unknown');
      assert.equal(cond(s, 'Deliverable')?.reason, 'DNSLookupFailed');
    } finally {
      await silent.close();
    }
  });

  it('a DKIM Secret without a usable key stalls the sender (its config cannot be rendered)', async () => {
    const t = setup([dns.address]);
    t.kube.setSecret('mail', 'dkim', { 'private.pem': 'not a key' });
    const s = sender('badkey', { from: { address: `no-reply@${DOMAINS.aligned}` }, dkim: dkimSpec });
    await t.run(s);
    assert.equal(cond(s, 'Stalled')?.reason, 'InvalidDKIMKey');
    assert.equal(t.kube.configs.size, 0);
  });
});
