/**
 * The controller end to end: a real kube-apiserver, the real `mailroom controller` process running
 * under the ServiceAccount and RBAC of deploy/, real SMTP servers, and kubectl as a user drives it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EmailSender } from '../../src/api/emailsender.ts';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import {
  closedPort,
  createTestPki,
  startMisbehavingPeer,
  startSmtpServer,
  type TestPki,
  type TestSmtpServer,
} from '../support/smtp-servers.ts';

const USER = 'mailer';
const PASSWORD = 'Pw-e2e-7f3c9a!x';
const NS = 'mail';

const secretYaml = (name: string, uri: string) => `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${NS} }
stringData: { uri: ${JSON.stringify(uri)} }
`;

const senderYaml = (name: string, secret: string, extra = '') => `apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: ${secret} }, caSecretRef: { name: corp-ca } }
  from: { address: no-reply@example.com }
  probe: { interval: 10s, timeout: 2s }
${extra}`;

describe('mailroom controller on a real apiserver', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let pki: TestPki;
  let smtp: TestSmtpServer;
  const uri = (port: number, user = USER, pass = PASSWORD, query = '') =>
    `smtp://${user}:${encodeURIComponent(pass)}@localhost:${port}/${query}`;

  const get = async (name: string): Promise<EmailSender> =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsender', name, '-o', 'json'));
  const ready = (s: EmailSender) => s.status?.conditions?.find((c) => c.type === 'Ready');
  const cond = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);
  const waitReason = (name: string, reason: string, timeoutMs = 20_000) =>
    eventually(
      async () => {
        const s = await get(name);
        return ready(s)?.reason === reason && s.status?.observedGeneration === s.metadata.generation && s;
      },
      timeoutMs,
      `${name} Ready reason ${reason}`,
    );
  const configSecret = async (name: string) =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'secret', `${name}-mailroom`, '-o', 'json')) as {
      data: Record<string, string>;
      metadata: {
        annotations: Record<string, string>;
        ownerReferences: Array<{ uid: string; kind: string }>;
      };
    };

  before(async () => {
    env = await startControllerEnv();
    pki = await createTestPki();
    smtp = await startSmtpServer({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    await env.kubectl('create', 'namespace', NS);
    await env.apply(`apiVersion: v1
kind: Secret
metadata: { name: corp-ca, namespace: ${NS} }
stringData: { ca.crt: ${JSON.stringify(pki.ca.cert)} }
`);
    controller = await env.startController();
  });

  after(async () => {
    await controller?.stop();
    await smtp?.close();
    await env?.stop();
  });

  test('apply → Ready=True within seconds; kubectl wait succeeds; status, config Secret and event', async () => {
    const started = Date.now();
    await env.apply(`${secretYaml('smtp', uri(smtp.port))}---\n${senderYaml('identity', 'smtp')}`);
    await env.kubectl('-n', NS, 'wait', '--for=condition=Ready', 'emailsender/identity', '--timeout=30s');
    assert.ok(Date.now() - started < 15_000, `Ready after ${Date.now() - started} ms`);
    const s = await get('identity');
    assert.equal(ready(s)?.reason, 'Verified');
    assert.equal(s.status?.endpoint, `localhost:${smtp.port}`);
    assert.equal(s.status?.security, 'StartTLS');
    assert.equal(s.status?.lastProbe?.tls?.certificate?.issuer.includes('Mailroom Test CA'), true);
    assert.equal(s.status?.observedGeneration, 1);
    const config = await configSecret('identity');
    assert.equal(config.metadata.ownerReferences[0]?.uid, s.metadata.uid);
    const body = JSON.parse(Buffer.from(config.data['config.json']!, 'base64').toString());
    assert.equal(body.revision, s.status?.config?.revision);
    assert.equal(body.smtp.ca, pki.ca.cert);
    const wide = await env.kubectl('-n', NS, 'get', 'esender', 'identity', '-o', 'wide', '--no-headers');
    assert.match(wide, /identity\s+True\s+Verified\s+localhost:\d+\s+StartTLS/);
    const events = await eventually(
      async () => {
        const out = await env.kubectl('-n', NS, 'get', 'events.events.k8s.io', '-o', 'json');
        const items = JSON.parse(out).items as Array<{
          reason: string;
          note: string;
          regarding: { name: string };
        }>;
        return items.filter((e) => e.regarding.name === 'identity');
      },
      10_000,
      'Verified event',
    );
    // (Deliverable events, about DNS, are not the probe's.)
    const probeEvents = events.filter((e) => e.reason === 'Verified' || e.reason === 'ConfigPublished');
    assert.deepEqual(
      probeEvents.map((e) => e.reason),
      ['Verified'],
      'one event per transition',
    );
    assert.match(probeEvents[0]!.note, /published config revision \w+ to Secret identity-mailroom/);
  });

  test('each failure reason reaches status with Ready=False', async () => {
    const refused = await closedPort();
    const plain = await startSmtpServer({ mode: 'plain', auth: { user: USER, pass: PASSWORD } });
    const expired = await startSmtpServer({ tls: pki.expired, auth: { user: USER, pass: PASSWORD } });
    const wrongName = await startSmtpServer({ tls: pki.wrongName, auth: { user: USER, pass: PASSWORD } });
    const rude = await startMisbehavingPeer('reject-greeting');
    try {
      const cases: Array<[name: string, uri: string, reason: string, extra?: string]> = [
        ['refused', uri(refused), 'ConnectionRefused'],
        ['no-starttls', uri(plain.port), 'STARTTLSNotOffered'],
        ['expired', uri(expired.port), 'CertificateExpired'],
        ['wrong-name', uri(wrongName.port), 'CertificateHostnameMismatch'],
        ['rude', uri(rude.port), 'UnexpectedGreeting'],
        ['bad-password', uri(smtp.port, USER, 'not-the-password'), 'AuthenticationFailed'],
        ['sender', uri(smtp.port), 'Verified', '  probe: { interval: 10s, checkSender: true }\n'],
      ];
      await env.apply(
        cases
          .map(
            ([name, u, , extra]) =>
              `${secretYaml(`s-${name}`, u)}---\n${extra ? senderYaml(name, `s-${name}`).replace(/ {2}probe:.*\n/, extra) : senderYaml(name, `s-${name}`)}`,
          )
          .join('---\n'),
      );
      for (const [name, , reason] of cases) {
        const s = await waitReason(name, reason);
        if (reason !== 'Verified') {
          assert.equal(ready(s)?.status, 'False', name);
          assert.equal(cond(s, 'Reconciling')?.reason, 'ProgressingWithRetry', name);
          assert.equal(cond(s, 'Stalled'), undefined, name);
        }
      }
    } finally {
      await Promise.all([plain.close(), expired.close(), wrongName.close(), rude.close()]);
    }
  });

  test('InsecureTLS and CertificateExpiringSoon conditions', async () => {
    const soon = await startSmtpServer({ tls: pki.expiringSoon, auth: { user: USER, pass: PASSWORD } });
    try {
      await env.apply(
        `${secretYaml('s-soon', uri(soon.port))}---\n${senderYaml('soon', 's-soon')}---\n` +
          `${secretYaml('s-insecure', uri(smtp.port, USER, PASSWORD, '?skip_ssl_verify=true'))}---\n${senderYaml('insecure', 's-insecure')}`,
      );
      const s = await waitReason('soon', 'Verified');
      assert.equal(cond(s, 'CertificateExpiringSoon')?.status, 'True');
      const i = await waitReason('insecure', 'Verified');
      assert.equal(cond(i, 'InsecureTLS')?.status, 'True');
      assert.equal(i.status?.security, 'StartTLSInsecure');
    } finally {
      await soon.close();
    }
  });

  test('Secret created after the EmailSender → Ready without a restart', async () => {
    await env.apply(senderYaml('late', 'late-smtp'));
    const s = await waitReason('late', 'SecretNotFound');
    assert.equal(cond(s, 'Stalled')?.status, 'True');
    await env.apply(secretYaml('late-smtp', uri(smtp.port)));
    const r = await waitReason('late', 'Verified', 10_000);
    assert.equal(cond(r, 'Stalled'), undefined);
  });

  test('rotated to bad credentials → AuthenticationFailed, config untouched; rotated back → Ready', async () => {
    await env.apply(`${secretYaml('rot', uri(smtp.port))}---\n${senderYaml('rotating', 'rot')}`);
    const good = await waitReason('rotating', 'Verified');
    const published = await configSecret('rotating');
    await env.apply(secretYaml('rot', uri(smtp.port, USER, 'wrong-password')));
    const bad = await waitReason('rotating', 'AuthenticationFailed', 10_000);
    assert.equal(bad.status?.config?.revision, good.status?.config?.revision);
    assert.ok(bad.status?.config?.desiredRevision, 'the failed revision is shown');
    assert.deepEqual((await configSecret('rotating')).data, published.data, 'last known good kept');
    await env.apply(secretYaml('rot', uri(smtp.port)));
    const back = await waitReason('rotating', 'Verified', 15_000);
    assert.equal(back.status?.config?.desiredRevision, undefined);
  });

  test('server down → Ready=False within one probe interval; back → Ready; config untouched meanwhile', async () => {
    const flaky = await startSmtpServer({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    const port = flaky.port;
    await env.apply(`${secretYaml('flaky', uri(port))}---\n${senderYaml('flaky', 'flaky')}`);
    await waitReason('flaky', 'Verified');
    const published = await configSecret('flaky');
    await flaky.close();
    const down = Date.now();
    await waitReason('flaky', 'ConnectionRefused', 15_000);
    // One interval (10 s, +10% jitter) plus the probe and the write; slack for a loaded CI machine.
    assert.ok(Date.now() - down < 14_000, `noticed after ${Date.now() - down} ms (interval 10s ±10%)`);
    assert.deepEqual((await configSecret('flaky')).metadata.annotations, published.metadata.annotations);
    const again = await startSmtpServer({ port, tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    try {
      await waitReason('flaky', 'Verified', 15_000);
    } finally {
      await again.close();
    }
  });

  test('invalid URI → Stalled=True; fixing it clears Stalled', async () => {
    await env.apply(
      secretYaml('broken', `smtp://${USER}:${PASSWORD}@localhost:${smtp.port}/?tls=on`) +
        '---\n' +
        senderYaml('broken', 'broken'),
    );
    const s = await waitReason('broken', 'InvalidURI');
    assert.equal(cond(s, 'Stalled')?.status, 'True');
    assert.match(ready(s)!.message, /1st query parameter is not one Mailroom knows/);
    await env.apply(secretYaml('broken', uri(smtp.port)));
    const fixed = await waitReason('broken', 'Verified', 10_000);
    assert.equal(cond(fixed, 'Stalled'), undefined);
  });

  test('requestedAt is echoed to lastHandledReconcileAt; a new generation is observed', async () => {
    await env.kubectl(
      '-n',
      NS,
      'annotate',
      '--overwrite',
      'emailsender/identity',
      'reconcile.fluxcd.io/requestedAt=now-1',
    );
    await eventually(
      async () => (await get('identity')).status?.lastHandledReconcileAt === 'now-1',
      10_000,
      'echo',
    );
    await env.kubectl(
      '-n',
      NS,
      'patch',
      'emailsender/identity',
      '--type=merge',
      '-p',
      '{"spec":{"headers":{"X-Team":"id"}}}',
    );
    const s = await waitReason('identity', 'Verified');
    assert.equal(s.status?.observedGeneration, 2);
    assert.equal(ready(s)?.observedGeneration, 2);
  });

  test('no log line, event or status holds the password', async () => {
    const writes = async () => {
      const text = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
      return Number(/^mailroom_controller_status_writes_total (\d+)/m.exec(text)?.[1]);
    };
    const everything = [
      env.allLines.join('\n'),
      await env.kubectl('get', 'emailsenders', '-A', '-o', 'json'),
      await env.kubectl('get', 'events.events.k8s.io', '-A', '-o', 'json'),
      await env.kubectl('get', 'events', '-A', '-o', 'json'),
    ].join('\n');
    assert.ok(env.allLines.length > 20);
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD), Buffer.from(PASSWORD).toString('base64')]) {
      assert.equal(everything.includes(form), false, `found ${form}`);
    }
    assert.ok((await writes()) > 0);
  });
});
