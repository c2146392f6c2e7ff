/**
 * The Deliverable condition end to end: the real controller process on a real apiserver, resolving
 * through a real DNS server on loopback (dnsmasq) that serves the test zones, and one that never
 * answers. `Ready` must not depend on any of it, nor wait for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EmailSender } from '../../src/api/emailsender.ts';
import { type ControllerEnv, eventually, startControllerEnv } from '../support/controller-env.ts';
import {
  type DeliverabilityDns,
  DOMAINS,
  SELECTOR,
  startDeliverabilityDns,
  startSilentDns,
} from '../support/dns-zones.ts';
import type { TestDns } from '../support/dnsmasq.ts';
import { createTestPki, startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const NS = 'deliver';
const PASSWORD = 'Deliver-e2e-Pw9';

describe('Deliverable on a real apiserver', () => {
  let env: ControllerEnv;
  let dns: DeliverabilityDns;
  let silent: TestDns;
  let smtp: TestSmtpServer;

  before(async () => {
    const pki = await createTestPki();
    [env, dns, silent, smtp] = await Promise.all([
      startControllerEnv(),
      startDeliverabilityDns(),
      startSilentDns(),
      startSmtpServer({ tls: pki.valid, auth: { user: 'mailer', pass: PASSWORD } }),
    ]);
    const uri = `smtp://mailer:${encodeURIComponent(PASSWORD)}@localhost:${smtp.port}/`;
    const indent = (pem: string) => pem.trim().replace(/\n/g, '\n    ');
    await env.apply(`apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: ${NS} }
stringData: { uri: ${JSON.stringify(uri)} }
---
apiVersion: v1
kind: Secret
metadata: { name: corp-ca, namespace: ${NS} }
stringData:
  ca.crt: |
    ${indent(pki.ca.cert)}
---
apiVersion: v1
kind: Secret
metadata: { name: dkim, namespace: ${NS} }
stringData:
  private.pem: |
    ${indent(dns.signingKey)}
`);
    await env.startController(['--dns-server', dns.address, '--namespace', NS]);
  });

  after(async () => {
    await Promise.all([env?.stop(), dns?.close(), silent?.close(), smtp?.close()]);
  });

  const sender = (name: string, domain: string) => `apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: smtp }, caSecretRef: { name: corp-ca } }
  from: { address: no-reply@${domain} }
  dkim: { selector: ${SELECTOR}, privateKeySecretRef: { name: dkim } }
`;
  const get = async (name: string): Promise<EmailSender> =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsender', name, '-o', 'json'));
  const condition = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);
  const waitDeliverable = (name: string) =>
    eventually(
      async () => {
        const s = await get(name);
        return condition(s, 'Deliverable') && condition(s, 'Ready')?.status === 'True' && s;
      },
      30_000,
      `${name} to have Deliverable and Ready=True`,
    );

  test('aligned SPF, DKIM and DMARC: Deliverable=True Aligned, beside Ready=True', async () => {
    await env.apply(sender('aligned', DOMAINS.aligned));
    const s = await waitDeliverable('aligned');
    const d = condition(s, 'Deliverable')!;
    assert.equal(d.status, 'True', d.message);
    assert.equal(d.reason, 'Aligned');
    assert.equal(condition(s, 'Ready')?.reason, 'Verified');
  });

  test('no SPF record: Deliverable=False NoSPFRecord, the message says what TXT record to publish', async () => {
    await env.apply(sender('nospf', DOMAINS.noSpf));
    const s = await waitDeliverable('nospf');
    const d = condition(s, 'Deliverable')!;
    assert.equal(d.status, 'False');
    assert.equal(d.reason, 'NoSPFRecord');
    assert.match(d.message, new RegExp(`${DOMAINS.noSpf.replaceAll('.', '\\.')}.*v=spf1`));
  });

  test('the published DKIM key is not the signing key: DKIMKeyMismatch', async () => {
    await env.apply(sender('mismatch', DOMAINS.dkimMismatch));
    const d = condition(await waitDeliverable('mismatch'), 'Deliverable')!;
    assert.equal(d.reason, 'DKIMKeyMismatch', d.message);
  });

  test('a DNS server that never answers: Ready=True at once, then DNSLookupFailed, Ready still Verified', async () => {
    const second = await env.startController(['--dns-server', silent.address, '--namespace', 'silent']);
    await env.kubectl('create', 'namespace', 'silent');
    for (const name of ['smtp', 'corp-ca', 'dkim']) {
      const secret = JSON.parse(await env.kubectl('-n', NS, 'get', 'secret', name, '-o', 'json'));
      await env.apply(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, namespace: 'silent' },
          data: secret.data,
        }),
      );
    }
    const getQuiet = async (): Promise<EmailSender> =>
      JSON.parse(await env.kubectl('-n', 'silent', 'get', 'emailsender', 'quiet', '-o', 'json'));
    await env.apply(sender('quiet', DOMAINS.aligned).replace(`namespace: ${NS}`, 'namespace: silent'));
    // Ready must not wait for the DNS timeouts (2 s a query, several queries): it shows within a
    // couple of seconds of the apply, and Deliverable only later.
    const applied = Date.now();
    const ready = await eventually(
      async () => {
        const got = await getQuiet();
        return condition(got, 'Ready')?.status === 'True' && got;
      },
      3000,
      'quiet to be Ready within 3 s of apply (before the DNS timeouts)',
    );
    const readyMs = Date.now() - applied;
    assert.equal(condition(ready, 'Ready')?.reason, 'Verified');
    assert.equal(condition(ready, 'Deliverable'), undefined, `Ready came first (after ${readyMs} ms)`);
    const s = await eventually(
      async () => {
        const got = await getQuiet();
        return condition(got, 'Deliverable') && got;
      },
      45_000,
      'quiet to have Deliverable',
    );
    assert.equal(condition(s, 'Deliverable')?.reason, 'DNSLookupFailed');
    assert.equal(condition(s, 'Deliverable')?.status, 'Unknown');
    assert.equal(condition(s, 'Ready')?.status, 'True');
    assert.equal(condition(s, 'Ready')?.reason, 'Verified');
    await second.stop();
  });

  test('no status, event or log line holds the SMTP password or the DKIM key', async () => {
    const everything = [
      await env.kubectl('get', 'emailsenders', '-A', '-o', 'json'),
      await env.kubectl('get', 'events.events.k8s.io', '-A', '-o', 'json'),
      env.allLines.join('\n'),
    ].join('\n');
    assert.equal(everything.includes(PASSWORD), false);
    const keyBody = dns.signingKey.split('\n')[1]!;
    assert.equal(everything.includes(keyBody), false);
  });
});
