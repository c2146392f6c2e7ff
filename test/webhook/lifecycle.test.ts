/**
 * The webhook's life around the pods: certificate rotation while the API server keeps calling it,
 * `mailroom controller --webhook-*` as a process, the controller down (failurePolicy, excluded
 * namespaces), and deploy/ accepted by the API server.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { freePorts } from '../../src/controlplane/net.ts';
import { webhookConfiguration } from '../../src/webhook/registration.ts';
import {
  APP_NS,
  CONTROLLER_NS,
  eventually,
  podManifest,
  root,
  SENDER,
  startWebhookEnv,
  type WebhookEnv,
} from './env.ts';

const annotated = { 'mailroom.dev/sender': SENDER };

/** The leaf certificate a TLS server presents. */
async function servedCert(address: string): Promise<string> {
  const i = address.lastIndexOf(':');
  const socket = connect({
    host: address.slice(0, i),
    port: Number(address.slice(i + 1)),
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  const fp = socket.getPeerX509Certificate()!.fingerprint256;
  socket.destroy();
  return fp;
}

describe('webhook lifecycle', () => {
  let env: WebhookEnv;
  let n = 0;
  const create = (ns: string, annotations?: Record<string, string>) =>
    env.kubectlRaw(['create', '-n', ns, '-f', '-', '-o', 'json'], podManifest(`p${++n}`, annotations));
  const injected = (stdout: string) =>
    ((stdout ? JSON.parse(stdout) : {}) as V1Pod).spec?.initContainers?.some(
      (c) => c.name === 'mailroom-sender',
    ) ?? false;

  before(async () => {
    env = await startWebhookEnv();
  });
  after(() => env?.stop());

  test('the API server keeps calling the webhook across certificate and CA rotations', async () => {
    // Rotations are driven by a clock the test steps, not by waiting: the certificates live for
    // hours of real time, so none can expire under a loaded machine, and each step's check renews
    // exactly what is due. Real time passes between steps only for the API server to use (and, for
    // a new CA, to see) what the webhook serves.
    const MIN = 60_000;
    let now = Date.now();
    const webhook = await env.startWebhook({
      caValidityMs: 180 * MIN,
      certValidityMs: 60 * MIN,
      propagationMs: 5 * MIN,
      checkIntervalMs: 24 * 60 * MIN,
      now: () => now,
    });
    const caOf = async () => {
      const b64 = await env.kubectl(
        'get',
        'secret',
        '-n',
        CONTROLLER_NS,
        'mailroom-webhook-tls',
        '-o',
        'jsonpath={.data.ca\\.crt}',
      );
      return new X509Certificate(Buffer.from(b64, 'base64')).fingerprint256;
    };
    const served = new Set<string>([await servedCert(webhook.address)]);
    const cas = new Set<string>([await caOf()]);
    const failures: string[] = [];
    let created = 0;
    const createOne = async () => {
      const r = await create(APP_NS, annotated);
      created++;
      if (r.code !== 0 || !injected(r.stdout)) failures.push(`exit ${r.code}: ${r.stderr}${r.stdout}`);
    };
    // Pods are created all along, steps included.
    let stepping = true;
    const creating = (async () => {
      while (stepping) await createOne();
    })();
    try {
      // 25 min steps over 150 min: serving certificates renewed at 50 and 100 min (under a third
      // of 60 min left), the CA at 125 min (under a third of 180 min left) and its first serving
      // certificate at 150 min, once the new CA has been in the bundle for the propagation time.
      for (let step = 0; step < 6; step++) {
        now += 25 * MIN;
        await webhook.check();
        served.add(await servedCert(webhook.address));
        cas.add(await caOf());
        // The API server calls the webhook with what it serves now (and learns a new bundle).
        const target = created + 2;
        const until = Date.now() + 3_000;
        while (created < target || Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      stepping = false;
      await creating;
      await webhook.stop();
    }
    assert.deepEqual(failures, [], `${failures.length} of ${created} creates failed`);
    assert.equal(served.size, 4, `served certificates: ${served.size}`);
    assert.equal(cas.size, 2, `CAs: ${cas.size}`);
  });

  describe('mailroom controller --webhook-listen, then the controller down', () => {
    let child: ChildProcess | undefined;
    let output = '';
    after(() => child?.kill('SIGKILL'));

    test('the controller command serves and registers the webhook', async () => {
      const [port, metrics, health] = await freePorts(3);
      child = spawn(
        process.execPath,
        [
          `${root}test/support/controller-main.ts`,
          'controller',
          '--kubeconfig',
          env.cp.kubeconfigPath,
          `--metrics-listen=127.0.0.1:${metrics}`,
          `--health-listen=127.0.0.1:${health}`,
          `--webhook-listen=127.0.0.1:${port}`,
          `--webhook-url=https://127.0.0.1:${port}`,
          `--webhook-namespace=${CONTROLLER_NS}`,
          '--webhook-failure-policy=Fail',
          '--webhook-sidecar-image=example.test/mailroom:e2e',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
      const pod = await eventually(async () => {
        const r = await create(APP_NS, annotated);
        return r.code === 0 && injected(r.stdout) ? (JSON.parse(r.stdout) as V1Pod) : undefined;
      }, 30_000).catch((err: Error) => assert.fail(`${err.message}\n${output}`));
      assert.equal(pod.spec!.initContainers![0]!.image, 'example.test/mailroom:e2e');
    });

    test('down: annotated pods follow failurePolicy Fail; excluded namespaces and other pods are unaffected', async () => {
      child!.kill('SIGTERM');
      await once(child!, 'exit');
      const refused = await create(APP_NS, annotated);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /failed calling webhook "sidecar\.mailroom\.dev"/);

      const plain = await create(APP_NS);
      assert.equal(plain.code, 0, plain.stderr);
      for (const ns of ['kube-system', CONTROLLER_NS]) {
        const r = await create(ns, annotated);
        assert.equal(r.code, 0, `${ns}: ${r.stderr}`);
        assert.equal(injected(r.stdout), false);
      }
    });

    test('down under failurePolicy Ignore: annotated pods are admitted without the sender', async () => {
      const webhook = await env.startWebhook({ failurePolicy: 'Ignore' });
      await webhook.stop();
      const r = await create(APP_NS, annotated);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(injected(r.stdout), false);
    });
  });

  test('deploy/ renders the webhook configuration the code registers, and the API server accepts it', async () => {
    const { stdout: rendered } = await env.kubectlRaw(['kustomize', `${root}deploy`]);
    const docs = parseAllDocuments(rendered).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string } },
    );
    const mwc = docs.find((d) => d.kind === 'MutatingWebhookConfiguration');
    assert.ok(mwc, 'MutatingWebhookConfiguration in kubectl kustomize deploy/');
    const code = webhookConfiguration({
      name: 'mailroom-sidecar-injector',
      failurePolicy: 'Fail',
      controllerNamespace: CONTROLLER_NS,
      service: { name: 'mailroom-webhook', namespace: CONTROLLER_NS },
    });
    assert.deepEqual((mwc as unknown as typeof code).webhooks, code.webhooks);
    assert.ok(docs.some((d) => d.kind === 'Service' && d.metadata.name === 'mailroom-webhook'));

    // As on a fresh cluster: the URL-mode registration of the tests above would merge with it.
    await env.kubectl(
      'delete',
      'mutatingwebhookconfiguration',
      'mailroom-sidecar-injector',
      '--ignore-not-found',
    );
    const dry = await env.kubectlRaw(['apply', '--dry-run=server', '-f', '-'], rendered);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /mutatingwebhookconfiguration.admissionregistration.k8s.io\/mailroom-sidecar-injector created \(server dry run\)/,
    );

    // The cert-manager component, from an overlay as a user would write it.
    const overlay = await mkdtemp(join(tmpdir(), 'mailroom-overlay-'));
    try {
      await cp(`${root}deploy`, join(overlay, 'deploy'), { recursive: true });
      await mkdir(join(overlay, 'o'));
      await writeFile(
        join(overlay, 'o', 'kustomization.yaml'),
        'resources: [../deploy]\ncomponents: [../deploy/webhook/cert-manager]\n',
      );
      const withCm = await env.kubectl('kustomize', join(overlay, 'o'));
      assert.match(withCm, /cert-manager\.io\/inject-ca-from: mailroom-system\/mailroom-webhook/);
      assert.match(withCm, /- --webhook-cert-manager/);
      assert.match(withCm, /kind: Certificate\n/);
    } finally {
      await rm(overlay, { recursive: true, force: true });
    }

    // The RBAC for real, then ask the API server what the controller's ServiceAccount may do.
    const rbac = rendered
      .split(/^---$/m)
      .filter((d) => /^kind: (ServiceAccount|ClusterRole|ClusterRoleBinding|Role|RoleBinding)$/m.test(d))
      .join('\n---\n');
    const applied = await env.kubectlRaw(['apply', '-f', '-'], rbac);
    assert.equal(applied.code, 0, applied.stderr);
    const sa = `--as=system:serviceaccount:${CONTROLLER_NS}:mailroom-controller`;
    for (const args of [
      ['watch', 'pods', '-A'],
      ['update', 'mutatingwebhookconfigurations/mailroom-sidecar-injector'],
      ['create', 'mutatingwebhookconfigurations'],
      ['update', 'secrets/mailroom-webhook-tls', '-n', CONTROLLER_NS],
      ['create', 'secrets', '-n', CONTROLLER_NS],
      ['patch', 'emailsenders.mailroom.dev', '--subresource=status', '-n', APP_NS],
      ['create', 'events.events.k8s.io', '-n', APP_NS],
    ]) {
      const r = await env.kubectlRaw(['auth', 'can-i', sa, ...args]);
      assert.equal(r.stdout.trim(), 'yes', `can-i ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
  });
});
