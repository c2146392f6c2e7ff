/**
 * charts/mailroom rendered by real helm (built from Go modules, see test/tools/): by default the
 * same objects as `kubectl kustomize deploy/`, object by object (labels aside), whatever deploy/
 * holds; its values change what they say; `helm lint` is clean; its crds/ are the generated CRDs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goTool } from '../support/go-tools.ts';
import { runCommand } from '../support/run-command.ts';
import { byIdentity, find, helmTemplate, kustomize, type Manifest, withoutLabels } from './manifests.ts';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const chart = repo('charts/mailroom');

let helm: string;
const template = (...args: string[]) => helmTemplate(helm, chart, args);
const controller = (objects: Manifest[]) =>
  find(objects, 'Deployment', 'mailroom-controller').spec.template.spec;

/** The same objects by identity, each equal but for its own labels (Helm adds its own). */
function assertSameObjects(fromHelm: Manifest[], fromKustomize: Manifest[]): void {
  const want = byIdentity(fromKustomize);
  const have = byIdentity(fromHelm);
  assert.deepEqual([...have.keys()].sort(), [...want.keys()].sort(), 'the same set of objects');
  for (const [id, o] of want) assert.deepEqual(withoutLabels(have.get(id)), withoutLabels(o), id);
}

describe('Helm chart (charts/mailroom)', () => {
  before(async () => {
    helm = await goTool('helm');
  });

  test('by default it renders what kubectl kustomize deploy/ renders, object by object', async () => {
    const [fromKustomize, fromHelm] = await Promise.all([kustomize(repo('deploy')), template()]);
    assertSameObjects(fromHelm, fromKustomize);
  });

  test('with monitoring.enabled, what deploy/ with the deploy/monitoring component renders', async () => {
    const overlay = await mkdtemp(join(tmpdir(), 'mailroom-monitoring-'));
    try {
      const rel = (path: string) => relative(overlay, repo(path));
      await writeFile(
        join(overlay, 'kustomization.yaml'),
        `resources: [${rel('deploy')}]\ncomponents: [${rel('deploy/monitoring')}]\n`,
      );
      const [fromKustomize, fromHelm] = await Promise.all([
        kustomize(overlay, ['--load-restrictor', 'LoadRestrictionsNone']),
        template('--set', 'monitoring.enabled=true'),
      ]);
      assertSameObjects(fromHelm, fromKustomize);
      const dashboard = find(fromHelm, 'ConfigMap', 'mailroom-dashboard');
      assert.equal(dashboard.metadata.labels.grafana_dashboard, '1');
    } finally {
      await rm(overlay, { recursive: true, force: true });
    }
  });

  test('with watchNamespaces, what kubectl kustomize deploy/overlays/namespaced renders', async () => {
    const fromKustomize = await kustomize(repo('deploy/overlays/namespaced'));
    // The overlay's own choice of namespaces, read from its Deployment, is the chart's value.
    const args: string[] = find(fromKustomize, 'Deployment', 'mailroom-controller').spec.template.spec
      .containers[0].args;
    const namespaces = args
      .filter((a) => a.startsWith('--namespace='))
      .map((a) => a.slice('--namespace='.length));
    assert.ok(namespaces.length > 0, 'the overlay watches some namespaces');
    assertSameObjects(await template('--set', `watchNamespaces={${namespaces.join(',')}}`), fromKustomize);
  });

  test("every object carries deploy/'s labels and Helm's", async () => {
    // Helm installs crds/ as they are, untemplated: the generated files carry no labels.
    for (const o of (await template()).filter((o) => o.kind !== 'CustomResourceDefinition')) {
      assert.equal(
        o.metadata.labels?.['app.kubernetes.io/part-of'],
        'mailroom',
        `${o.kind} ${o.metadata.name}`,
      );
      assert.equal(
        o.metadata.labels?.['app.kubernetes.io/managed-by'],
        'Helm',
        `${o.kind} ${o.metadata.name}`,
      );
    }
  });

  test('helm lint --strict is clean', async () => {
    const r = await runCommand(helm, ['lint', '--strict', chart]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  });

  test("crds/ holds exactly the generated CRDs, and the generator's check covers it", async () => {
    const generated = (await readdir(repo('crds'))).sort();
    assert.deepEqual((await readdir(repo('charts/mailroom/crds'))).sort(), generated);
    for (const file of generated) {
      assert.equal(
        await readFile(repo(`charts/mailroom/crds/${file}`), 'utf8'),
        await readFile(repo(`crds/${file}`), 'utf8'),
        file,
      );
    }
    const check = await runCommand(process.execPath, [repo('scripts/gen-crds.ts'), '--check']);
    assert.equal(check.code, 0, check.stderr);
  });

  test('image, replicas, resources and extra args', async () => {
    const objects = await template(
      '--set',
      'image.repository=registry.example/mailroom,image.tag=1.2.3,image.pullPolicy=Always,replicas=3',
      '--set',
      'resources.limits.memory=512Mi,maxOldSpaceMiB=384',
      '--set',
      'extraArgs={--log-level=debug,--concurrency=32}',
    );
    const deployment = find(objects, 'Deployment', 'mailroom-controller');
    assert.equal(deployment.spec.replicas, 3);
    const [c] = deployment.spec.template.spec.containers;
    assert.equal(c.image, 'registry.example/mailroom:1.2.3');
    assert.equal(c.imagePullPolicy, 'Always');
    assert.equal(c.resources.limits.memory, '512Mi');
    assert.match(c.env.find((e: Manifest) => e.name === 'NODE_OPTIONS').value, /--max-old-space-size=384$/);
    // The injected sidecar runs the same image as the controller.
    assert.ok(c.args.includes('--webhook-sidecar-image=registry.example/mailroom:1.2.3'), c.args.join(' '));
    assert.deepEqual(c.args.slice(-2), ['--log-level=debug', '--concurrency=32']);
  });

  test('webhook failure policy and strict mode reach both the configuration and the controller', async () => {
    const objects = await template('--set', 'webhook.failurePolicy=Ignore,webhook.strict=true');
    const config = find(objects, 'MutatingWebhookConfiguration', 'mailroom-sidecar-injector');
    assert.equal(config.webhooks[0].failurePolicy, 'Ignore');
    const { args } = controller(objects).containers[0];
    assert.ok(args.includes('--webhook-failure-policy=Ignore'), args.join(' '));
    assert.ok(args.includes('--webhook-strict'), args.join(' '));
    const wrong = await runCommand(helm, ['template', chart, '--set', 'webhook.failurePolicy=Sometimes']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /failurePolicy/);
  });

  test('cert-manager renders what deploy/webhook/cert-manager adds', async () => {
    const objects = await template('--set', 'webhook.certManager=true');
    const cert = find(objects, 'Certificate', 'mailroom-webhook');
    assert.deepEqual(cert.spec.dnsNames, [
      'mailroom-webhook.mailroom-system.svc',
      'mailroom-webhook.mailroom-system.svc.cluster.local',
    ]);
    find(objects, 'Issuer', 'mailroom-webhook-selfsigned');
    const config = find(objects, 'MutatingWebhookConfiguration', 'mailroom-sidecar-injector');
    assert.equal(
      config.metadata.annotations['cert-manager.io/inject-ca-from'],
      'mailroom-system/mailroom-webhook',
    );
    assert.ok(controller(objects).containers[0].args.includes('--webhook-cert-manager'));
  });

  test('the namespaced install: Roles where it watches, nothing cluster-wide, no webhook', async () => {
    const objects = await template('--set', 'watchNamespaces={mailroom-demo,team-a}');
    const kinds = objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    for (const ns of ['mailroom-demo', 'team-a']) {
      assert.ok(kinds.includes(`Role ${ns}/mailroom-controller`), kinds.join('\n'));
      const binding = find(
        objects.filter((o) => o.metadata.namespace === ns),
        'RoleBinding',
        'mailroom-controller',
      );
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'mailroom-controller',
      });
    }
    const clusterWide = objects.filter((o) =>
      ['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(o.kind),
    );
    assert.deepEqual(clusterWide, []);
    const { args } = controller(objects).containers[0];
    assert.deepEqual(args, [
      'controller',
      '--leader-elect',
      '--namespace=mailroom-demo',
      '--namespace=team-a',
    ]);
  });

  test('another release namespace is used everywhere deploy/ says mailroom-system', async () => {
    const objects = await helmTemplate(helm, chart, ['--namespace', 'mail']);
    const text = JSON.stringify(objects);
    assert.doesNotMatch(text, /mailroom-system/);
    assert.equal(
      find(objects, 'Namespace', 'mail').metadata.labels['pod-security.kubernetes.io/enforce'],
      'restricted',
    );
  });
});
