/**
 * The controller when things break: it is killed and restarted, the apiserver restarts under its
 * watches, two replicas share one Lease. Same real apiserver, RBAC and SMTP servers as the main suite.
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
import { createTestPki, startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const USER = 'mailer';
const PASSWORD = 'Res1l13nt-pw%q';
const NS = 'res';
const SA = 'system:serviceaccount:mailroom-system:mailroom-controller';

describe('controller resilience on a real apiserver', () => {
  let env: ControllerEnv;
  let smtp: TestSmtpServer;
  let caPem: string;
  const uri = (pass = PASSWORD) => `smtp://${USER}:${encodeURIComponent(pass)}@localhost:${smtp.port}/`;
  const senders = (names: string[], secret = 'smtp') =>
    names
      .map(
        (n) => `apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${n}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: ${secret} }, caSecretRef: { name: corp-ca } }
  from: { address: no-reply@example.com }
`,
      )
      .join('---\n');
  const secret = (name: string, u: string) =>
    `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name}, namespace: ${NS} }\nstringData: { uri: ${JSON.stringify(u)} }\n`;
  const list = async (): Promise<EmailSender[]> =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsenders', '-o', 'json')).items;
  const reasons = async () =>
    Object.fromEntries(
      (await list()).map((s) => [
        s.metadata.name,
        s.status?.observedGeneration === s.metadata.generation
          ? s.status?.conditions?.find((c) => c.type === 'Ready')?.reason
          : 'stale',
      ]),
    );
  const allReason = (names: string[], reason: string, timeoutMs = 20_000) =>
    eventually(
      async () => {
        const r = await reasons();
        return names.every((n) => r[n] === reason) && r;
      },
      timeoutMs,
      `${names.length} senders ${reason}`,
    );
  const metric = async (c: ControllerProcess, name: string) => {
    const text = await (await fetch(`${c.metricsUrl}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  };

  before(async () => {
    env = await startControllerEnv();
    const pki = await createTestPki();
    caPem = pki.ca.cert;
    smtp = await startSmtpServer({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    await env.kubectl('create', 'namespace', NS);
    await env.apply(
      `apiVersion: v1\nkind: Secret\nmetadata: { name: corp-ca, namespace: ${NS} }\nstringData: { ca.crt: ${JSON.stringify(caPem)} }\n`,
    );
  });
  after(async () => {
    await smtp?.close();
    await env?.stop();
  });

  test('RBAC from deploy/ grants what the controller needs and no more', async () => {
    const can = async (...args: string[]) =>
      // can-i prints "no" and exits 1 for a denial.
      (await env.kubectl('auth', 'can-i', `--as=${SA}`, ...args).catch(() => 'no')).trim();
    for (const [verb, resource] of [
      ['watch', 'emailsenders.mailroom.dev'],
      ['get', 'secrets'],
      ['create', 'secrets'],
      ['create', 'events.events.k8s.io'],
    ] as const) {
      assert.equal(await can(verb, resource, '-n', NS), 'yes', `${verb} ${resource}`);
    }
    assert.equal(await can('patch', 'emailsenders.mailroom.dev', '--subresource=status', '-n', NS), 'yes');
    for (const [verb, resource] of [
      ['update', 'emailsenders.mailroom.dev'],
      ['delete', 'emailsenders.mailroom.dev'],
      ['create', 'leases.coordination.k8s.io'],
    ] as const) {
      assert.match(await can(verb, resource, '-n', NS), /^no/, `${verb} ${resource} must be denied`);
    }
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', 'mailroom-system'), 'yes');
    // A ClusterEmailSender's `<name>-cluster-mailroom` copies leave namespaces that stop using it, and
    // RBAC cannot narrow delete to names chosen at run time: delete, and only delete, is granted.
    assert.equal(await can('delete', 'secrets', '-n', NS), 'yes');
    assert.match(await can('deletecollection', 'secrets', '-n', NS), /^no/, 'deletecollection secrets');
  });

  test('killed mid-way and restarted: converges, including changes made while it was down', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `r${i}`);
    const first = await env.startController();
    await env.apply(`${secret('smtp', uri())}---\n${senders(names)}`);
    await eventually(async () => Object.values(await reasons()).includes('Verified'), 10_000, 'some Ready');
    first.child.kill('SIGKILL');
    await first.stop();
    await env.apply(`${secret('smtp-bad', uri('wrong'))}---\n${senders(['r0', 'r1'], 'smtp-bad')}`);
    const second = await env.startController();
    try {
      await allReason(names.slice(2), 'Verified');
      await allReason(['r0', 'r1'], 'AuthenticationFailed');
    } finally {
      assert.equal(await second.stop(), 0, 'SIGTERM ends the controller cleanly');
    }
    assert.ok(second.lines.some((l) => l.includes('shutting down')));
  });

  test('apiserver restarted under the watches: the informers recover without a controller restart', async () => {
    const c = await env.startController();
    try {
      await allReason(['r5'], 'Verified');
      await env.cp.restartApiserver();
      await env.apply(`${secret('smtp-new', uri())}---\n${senders(['after-restart'], 'smtp-new')}`);
      await allReason(['after-restart'], 'Verified', 30_000);
      await env.apply(secret('smtp-new', uri('rotated-wrong')));
      await allReason(['after-restart'], 'AuthenticationFailed', 30_000);
      assert.equal(c.child.exitCode, null, 'still the same process');
      assert.ok(c.lines.some((l) => l.includes('list/watch failed; retrying') || l.includes('relisting')));
      const health = await fetch(`${c.healthUrl}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      await c.stop();
    }
  });

  test('two replicas with --leader-elect: one works; on SIGTERM it releases the Lease and the other takes over', async () => {
    const flags = ['--leader-elect', '--lease-namespace', 'mailroom-system'];
    const a = await env.startController(flags);
    await eventually(async () => (await metric(a, 'mailroom_controller_leader')) === 1, 15_000, 'a leads');
    const b = await env.startController(flags);
    try {
      await eventually(async () => (await fetch(`${b.healthUrl}/readyz`)).status === 200, 10_000, 'b ready');
      assert.equal(await metric(b, 'mailroom_controller_leader'), 0, 'b stands by');
      const lease = JSON.parse(
        await env.kubectl('-n', 'mailroom-system', 'get', 'lease', 'mailroom-controller', '-o', 'json'),
      );
      assert.match(lease.spec.holderIdentity, /_/);
      assert.equal(await a.stop(), 0);
      const handover = Date.now();
      await eventually(async () => (await metric(b, 'mailroom_controller_leader')) === 1, 15_000, 'b leads');
      assert.ok(Date.now() - handover < 10_000, `released lease taken over in ${Date.now() - handover} ms`);
      await env.apply(`${secret('smtp-le', uri())}---\n${senders(['after-handover'], 'smtp-le')}`);
      await allReason(['after-handover'], 'Verified');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('sharding: --label-selector and --namespace limit what a controller touches', async () => {
    await env.kubectl('create', 'namespace', 'other');
    await env.apply(`${secret('smtp-shard', uri())}---\n${senders(['shard-a', 'shard-b'], 'smtp-shard')}`);
    await env.kubectl('-n', NS, 'label', 'emailsender/shard-a', 'shard=a');
    await env.kubectl('-n', NS, 'label', 'emailsender/shard-b', 'shard=b');
    await env.apply(senders(['elsewhere']).replaceAll(`namespace: ${NS}`, 'namespace: other'));
    const c = await env.startController(['--label-selector', 'shard=a', '--namespace', NS]);
    try {
      await allReason(['shard-a'], 'Verified');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await reasons())['shard-b'], 'stale', 'other shard untouched');
      const other = JSON.parse(
        await env.kubectl('-n', 'other', 'get', 'emailsender', 'elsewhere', '-o', 'json'),
      );
      assert.equal(other.status, undefined, 'other namespace untouched');
    } finally {
      await c.stop();
    }
  });

  test('no log line, event or status of this suite holds the password', async () => {
    const everything = [
      env.allLines.join('\n'),
      await env.kubectl('get', 'emailsenders', '-A', '-o', 'json'),
      await env.kubectl('get', 'events.events.k8s.io', '-A', '-o', 'json'),
    ].join('\n');
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD), Buffer.from(PASSWORD).toString('base64')]) {
      assert.equal(everything.includes(form), false, `found ${form}`);
    }
  });
});
