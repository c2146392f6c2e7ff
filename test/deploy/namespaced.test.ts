/**
 * The namespace-scoped install (deploy/overlays/namespaced) on a real API server: the controller runs
 * with a TokenRequest token of its ServiceAccount under exactly that overlay's Roles and RoleBindings,
 * with the flags of its Deployment. A sender in a listed namespace becomes Ready; one in a namespace
 * not listed is never touched; and nothing grants Secrets outside the listed namespaces.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { EmailSender } from '../../src/api/emailsender.ts';
import { type ControllerEnv, type ControllerProcess, startControllerEnv } from '../support/controller-env.ts';
import { runCommand } from '../support/run-command.ts';
import {
  createTestPki,
  startSmtpServer,
  type TestPki,
  type TestSmtpServer,
} from '../support/smtp-servers.ts';

const OVERLAY = 'deploy/overlays/namespaced';
const LISTED = 'team-a';
const OUTSIDE = 'elsewhere';
const SA = 'system:serviceaccount:mailroom-system:mailroom-controller';

const objects = (ns: string, uri: string, ca: string) => `apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: ${ns} }
stringData: { uri: ${JSON.stringify(uri)} }
---
apiVersion: v1
kind: Secret
metadata: { name: corp-ca, namespace: ${ns} }
stringData: { ca.crt: ${JSON.stringify(ca)} }
---
apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: identity, namespace: ${ns} }
spec:
  smtp: { uriSecretRef: { name: smtp }, caSecretRef: { name: corp-ca } }
  from: { address: no-reply@example.com }
  probe: { interval: 10s, timeout: 2s }
`;

describe('namespace-scoped install on a real apiserver', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let pki: TestPki;
  let smtp: TestSmtpServer;
  let args: string[];

  before(async () => {
    // The overlay with the restrict-egress component, as a team would apply it.
    const dir = await mkdtemp(join(tmpdir(), 'mailroom-overlay-'));
    let stdout: string;
    try {
      await cp(fileURLToPath(new URL('../../deploy', import.meta.url)), join(dir, 'deploy'), {
        recursive: true,
      });
      await mkdir(join(dir, 'o'));
      await writeFile(
        join(dir, 'o', 'kustomization.yaml'),
        `resources: [../${OVERLAY}]\ncomponents: [../deploy/components/restrict-egress]\n`,
      );
      ({ stdout } = await promisify(execFile)('kubectl', ['kustomize', join(dir, 'o')]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are read field by field
    const rendered = parseAllDocuments(stdout).map((d) => d.toJS() as any);
    const deployment = rendered.find((o) => o.kind === 'Deployment');
    args = deployment.spec.template.spec.containers[0].args;
    const served = rendered.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name === 'mailroom-controller',
    );
    env = await startControllerEnv({
      install: OVERLAY,
      namespaces: [...served.map((o) => o.metadata.namespace as string), OUTSIDE],
    });
    // All of it, for real (no node runs the Deployment here; the controller runs as a process).
    const applied = await runCommand(
      'kubectl',
      ['--kubeconfig', env.cp.kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-f', '-'],
      { input: stdout },
    );
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(
      applied.stdout,
      /networkpolicy\.networking\.k8s\.io\/mailroom-controller-egress serverside-applied/,
    );
    pki = await createTestPki();
    smtp = await startSmtpServer({ tls: pki.valid, auth: { user: 'mailer', pass: 'Pw-ns-4b1d' } });
  });

  after(async () => {
    await controller?.stop();
    await smtp?.close();
    await env?.stop();
  });

  test('the ServiceAccount may read Secrets in the listed namespaces and nowhere else', async () => {
    const can = async (...a: string[]) =>
      (
        await runCommand('kubectl', [
          '--kubeconfig',
          env.cp.kubeconfigPath,
          'auth',
          'can-i',
          '--as',
          SA,
          ...a,
        ])
      ).stdout.trim();
    assert.equal(await can('get', 'secrets', '-n', LISTED), 'yes');
    assert.equal(await can('watch', 'emailsenders.mailroom.dev', '-n', LISTED), 'yes');
    assert.equal(await can('get', 'secrets', '-n', OUTSIDE), 'no');
    assert.equal(await can('list', 'secrets', '-A'), 'no');
    assert.equal(await can('list', 'emailsenders.mailroom.dev', '-A'), 'no');
    assert.equal(await can('get', 'secrets', '-n', 'mailroom-system'), 'no');
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', 'mailroom-system'), 'yes');
  });

  test('with its Deployment flags, a listed namespace gets Ready; an unlisted one is not touched', async () => {
    assert.deepEqual(args.slice(0, 2), ['controller', '--leader-elect']);
    assert.ok(args.includes(`--namespace=${LISTED}`));
    // In the pod, POD_NAMESPACE (from the Deployment) names the Lease's namespace.
    controller = await env.startController([...args.slice(1), '--lease-namespace', 'mailroom-system']);
    const uri = `smtp://mailer:Pw-ns-4b1d@localhost:${smtp.port}/`;
    await env.apply(objects(OUTSIDE, uri, pki.ca.cert));
    await env.apply(objects(LISTED, uri, pki.ca.cert));
    await env.kubectl('-n', LISTED, 'wait', '--for=condition=Ready', 'emailsender/identity', '--timeout=30s');
    await env.kubectl('-n', LISTED, 'get', 'secret', 'identity-mailroom');

    // By now the outside sender, created first, would have been handled too.
    const outside: EmailSender = JSON.parse(
      await env.kubectl('-n', OUTSIDE, 'get', 'emailsender', 'identity', '-o', 'json'),
    );
    assert.equal(outside.status, undefined, 'no status written outside the listed namespaces');
    const secrets = JSON.parse(await env.kubectl('-n', OUTSIDE, 'get', 'secrets', '-o', 'json'));
    assert.deepEqual(secrets.items.map((s: { metadata: { name: string } }) => s.metadata.name).sort(), [
      'corp-ca',
      'smtp',
    ]);
    const events = JSON.parse(await env.kubectl('-n', OUTSIDE, 'get', 'events.events.k8s.io', '-o', 'json'));
    assert.deepEqual(events.items, []);
    // And it never tried: no request was refused for want of a cluster-wide grant.
    const forbidden = controller.lines.filter((l) => /forbidden|\b403\b/i.test(l));
    assert.deepEqual(forbidden, []);
  });
});

test('a --namespace value that cannot be a namespace is refused before anything starts', async () => {
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const r = await runCommand(process.execPath, [main, 'controller', '--namespace', 'team-a,Team_B']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /"Team_B" is not a namespace name \(lowercase letters, digits and "-"/);
});
