/**
 * ClusterEmailSender end to end: a real kube-apiserver (with an audit log of every Secret read), the
 * real `mailroom controller` process serving its webhook under the ServiceAccount and RBAC of
 * deploy/, a real SMTP server, and kubectl creating pods as a user would.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClusterEmailSender } from '../../src/api/clusteremailsender.ts';
import { freePorts } from '../../src/controlplane/net.ts';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import { runCommand } from '../support/run-command.ts';
import { createTestPki, startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const CRN = 'mailroom-system';
const SA = `system:serviceaccount:${CRN}:mailroom-controller`;
const USER = 'relay';
const PASSWORD = 'Cl-e2e-91!pw';
const COPY = 'platform-cluster-mailroom';
const uri = (host: string, port: number) => `smtp://${USER}:${encodeURIComponent(PASSWORD)}@${host}:${port}/`;

const auditDir = join(tmpdir(), `mailroom-audit-${process.pid}`);
const auditLog = join(auditDir, 'audit.log');
const auditPolicy = join(auditDir, 'policy.yaml');

const pod = (namespace: string, name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, annotations: { 'mailroom.dev/cluster-sender': 'platform' } },
    spec: { containers: [{ name: 'app', image: 'ghcr.io/example/app:1.0.0' }] },
  });

describe('ClusterEmailSender on a real apiserver', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let smtp: TestSmtpServer;

  const get = async (): Promise<ClusterEmailSender> =>
    JSON.parse(await env.kubectl('get', 'clusteremailsender', 'platform', '-o', 'json'));
  const hasCopy = async (ns: string): Promise<boolean> => {
    const out = await env.kubectl('-n', ns, 'get', 'secrets', '-o', 'name');
    return out.split('\n').includes(`secret/${COPY}`);
  };
  const configIn = async (ns: string) => {
    const s = JSON.parse(await env.kubectl('-n', ns, 'get', 'secret', COPY, '-o', 'json'));
    return JSON.parse(Buffer.from(s.data['config.json'], 'base64').toString()) as {
      revision: string;
      smtp: { uri: string };
    };
  };
  before(async () => {
    await mkdir(auditDir, { recursive: true });
    await writeFile(
      auditPolicy,
      `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["${SA}"]
    resources: [{ group: "", resources: [secrets] }]
  - level: None
`,
    );
    env = await startControllerEnv({
      controlPlane: {
        apiserverArgs: [`--audit-policy-file=${auditPolicy}`, `--audit-log-path=${auditLog}`],
      },
    });
    const pki = await createTestPki();
    smtp = await startSmtpServer({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    await env.apply(`apiVersion: v1
kind: Namespace
metadata: { name: apps, labels: { mailroom.dev/email: allowed } }
---
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mailroom.dev/email: allowed } }
---
apiVersion: v1
kind: Namespace
metadata: { name: outside }
---
# A decoy: a Secret of the same name in an application namespace, never to be read.
apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: apps }
stringData: { uri: "smtp://decoy:decoy@127.0.0.1:1/" }
---
apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: ${CRN} }
stringData: { uri: ${JSON.stringify(uri('localhost', smtp.port))} }
---
apiVersion: v1
kind: Secret
metadata: { name: corp-ca, namespace: ${CRN} }
stringData: { ca.crt: ${JSON.stringify(pki.ca.cert)} }
`);
    const [port] = await freePorts(1);
    controller = await env.startController([
      '--cluster-resource-namespace',
      CRN,
      '--webhook-listen',
      `127.0.0.1:${port}`,
      '--webhook-url',
      `https://127.0.0.1:${port}`,
      '--webhook-namespace',
      CRN,
    ]);
  });

  after(async () => {
    await controller?.stop();
    await smtp?.close();
    await env?.stop();
  });

  test('Ready from a Secret in the cluster-resource namespace', async () => {
    await env.apply(`apiVersion: mailroom.dev/v1alpha1
kind: ClusterEmailSender
metadata: { name: platform }
spec:
  smtp: { uriSecretRef: { name: smtp }, caSecretRef: { name: corp-ca } }
  from: { address: no-reply@example.com }
  probe: { interval: 10s, timeout: 2s }
  namespaceSelector: { matchLabels: { mailroom.dev/email: allowed } }
`);
    await env.kubectl('wait', '--for=condition=Ready', 'clusteremailsender/platform', '--timeout=30s');
    const s = await get();
    assert.equal(s.status?.endpoint, `localhost:${smtp.port}`);
    assert.equal(s.status?.security, 'StartTLS');
    // Events about a cluster-scoped object live in `default`, where kubectl describe finds them.
    await eventually(
      async () => {
        const out = await env.kubectl('-n', 'default', 'get', 'events.events.k8s.io', '-o', 'json');
        const items = JSON.parse(out).items as { reason: string; regarding: { kind: string } }[];
        return items.some((e) => e.reason === 'Verified' && e.regarding.kind === 'ClusterEmailSender');
      },
      20_000,
      'a Verified Event about the ClusterEmailSender',
    );
    assert.match(
      await env.kubectl('get', 'cesender', 'platform', '--no-headers'),
      /platform\s+True\s+Verified/,
    );
  });

  test('an annotated pod in an allowed namespace gets the sidecar and the config', async () => {
    await env.apply(pod('apps', 'web-1'));
    const created = JSON.parse(await env.kubectl('-n', 'apps', 'get', 'pod', 'web-1', '-o', 'json'));
    const sidecar = created.spec.initContainers?.find((c: { name: string }) => c.name === 'mailroom-sender');
    assert.ok(sidecar, 'the sender sidecar is injected');
    const volume = created.spec.volumes.find((v: { name: string }) => v.name === 'mailroom-config');
    assert.equal(volume.secret.secretName, COPY);
    await eventually(() => hasCopy('apps'), 20_000, 'the config copy in apps');
    const config = await configIn('apps');
    assert.equal(config.smtp.uri, uri('localhost', smtp.port));
    const s = await eventually(
      async () => {
        const s = await get();
        return s.status?.consumers === 1 && s.status;
      },
      20_000,
      'status.consumers 1',
    );
    assert.deepEqual(s.namespaces, ['apps']);
    assert.equal(s.config?.revision, config.revision);
  });

  test('a pod in a namespace outside the selector gets neither sidecar nor config', async () => {
    const r = await runCommand('kubectl', ['--kubeconfig', env.cp.kubeconfigPath, 'apply', '-f', '-'], {
      input: pod('outside', 'web-1'),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /does not allow namespace "outside"/);
    const created = JSON.parse(await env.kubectl('-n', 'outside', 'get', 'pod', 'web-1', '-o', 'json'));
    assert.equal(created.spec.initContainers, undefined);
    // Not injected, so not a consumer: it does not use the sender.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await get()).status?.consumers, 1);
    assert.equal(await hasCopy('outside'), false);
    assert.deepEqual((await get()).status?.namespaces, ['apps']);
    const events = await eventually(
      async () => {
        const out = await env.kubectl('-n', 'outside', 'get', 'events.events.k8s.io', '-o', 'json');
        const items = JSON.parse(out).items as { reason: string; note: string }[];
        return items.find((e) => e.reason === 'ClusterSenderNotAllowed');
      },
      20_000,
      'a ClusterSenderNotAllowed Event',
    );
    assert.match(events.note, /does not allow namespace "outside"/);
  });

  test('rotation of the cluster Secret updates every copy', async () => {
    await env.apply(pod('shop', 'web-1'));
    await eventually(() => hasCopy('shop'), 20_000, 'the copy in shop');
    const before = (await configIn('apps')).revision;
    await env.apply(`apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: ${CRN} }
stringData: { uri: ${JSON.stringify(uri('127.0.0.1', smtp.port))} }
`);
    for (const ns of ['apps', 'shop'])
      await eventually(
        async () => {
          const c = await configIn(ns);
          return c.revision !== before && c.smtp.uri.includes('@127.0.0.1:');
        },
        20_000,
        `the rotated config in ${ns}`,
      );
    assert.deepEqual((await get()).status?.namespaces, ['apps', 'shop']);
  });

  test('relabelling a namespace, deleting the last consumer and deleting the sender each remove the copy', async () => {
    await env.kubectl('label', 'namespace', 'shop', 'mailroom.dev/email-');
    await eventually(async () => !(await hasCopy('shop')), 20_000, 'the copy leaving shop');
    assert.equal(await hasCopy('apps'), true);
    await env.kubectl('-n', 'apps', 'delete', 'pod', 'web-1', '--wait=false');
    await eventually(async () => !(await hasCopy('apps')), 20_000, 'the copy leaving apps');
    await eventually(
      async () => (await get()).status?.namespaces?.length === 0,
      20_000,
      'status.namespaces empty',
    );
    await env.apply(pod('apps', 'web-2'));
    await eventually(() => hasCopy('apps'), 20_000, 'the copy back in apps');
    await env.kubectl('delete', 'clusteremailsender', 'platform');
    await eventually(async () => !(await hasCopy('apps')), 20_000, 'the copy leaving with its sender');
  });

  test('no Secret outside the cluster-resource namespace was read', async () => {
    const entries = (await readFile(auditLog, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            verb: string;
            user: { username: string };
            objectRef?: { namespace?: string; name?: string };
          },
      )
      .filter((e) => e.user.username === SA);
    const gets = entries.filter((e) => e.verb === 'get');
    assert.ok(
      gets.some((e) => e.objectRef?.namespace === CRN && e.objectRef.name === 'smtp'),
      'the audit log works',
    );
    // Outside it, only the copies the controller itself publishes are ever fetched (to check they are
    // still its own before replacing them); the decoy 'smtp' in apps never is.
    assert.deepEqual(
      gets
        .filter((e) => e.objectRef?.namespace !== CRN && e.objectRef?.name !== COPY)
        .map((e) => `${e.objectRef?.namespace}/${e.objectRef?.name}`),
      [],
    );
    assert.ok(!gets.some((e) => e.objectRef?.namespace === 'apps' && e.objectRef.name === 'smtp'));
  });
});
