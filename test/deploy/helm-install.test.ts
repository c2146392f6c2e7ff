/**
 * charts/mailroom installed by real helm (built from Go modules, test/tools/) on a real
 * kube-apiserver: the CRDs from crds/ are established and take an EmailSender, the objects land
 * where the default render says, the ServiceAccount gets exactly its grants, an upgrade to the
 * namespaced install swaps cluster-wide grants for Roles, and uninstall removes what it installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ControlPlane, startControlPlane } from '../../src/controlplane/index.ts';
import { kubectl, kubectlOk } from '../crd/kubectl.ts';
import { goTool } from '../support/go-tools.ts';
import { runCommand } from '../support/run-command.ts';
import { helmTemplate, identity } from './manifests.ts';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const chart = repo('charts/mailroom');
const sa = ['--as', 'system:serviceaccount:mailroom-system:mailroom-controller'];

describe('helm install charts/mailroom on a real apiserver', () => {
  let cp: ControlPlane;
  let helmBin: string;
  const helm = async (...args: string[]) => {
    const r = await runCommand(helmBin, ['--kubeconfig', cp.kubeconfigPath, ...args]);
    assert.equal(r.code, 0, `helm ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const can = async (...args: string[]) =>
    (await kubectl(cp.kubeconfigPath, ['auth', 'can-i', ...sa, ...args])).stdout.trim();

  before(async () => {
    [cp, helmBin] = await Promise.all([startControlPlane(), goTool('helm')]);
  });
  after(() => cp?.stop());

  test('installs: CRDs established, every rendered object present, least-privilege grants', async () => {
    // `--create-namespace` makes the namespace, so the chart must not render it too.
    const values = ['--set', 'namespace.create=false'];
    const out = await helm(
      'install',
      'mailroom',
      chart,
      '-n',
      'mailroom-system',
      '--create-namespace',
      ...values,
    );
    assert.match(out, /STATUS: deployed/);
    await kubectlOk(cp.kubeconfigPath, [
      'wait',
      '--for=condition=Established',
      'crd/emailsenders.mailroom.dev',
    ]);

    const rendered = await helmTemplate(helmBin, chart, values);
    for (const o of rendered) {
      const ns = o.metadata.namespace ? ['-n', o.metadata.namespace] : [];
      const kind = `${o.kind.toLowerCase()}.${String(o.apiVersion).includes('/') ? o.apiVersion.split('/')[0] : ''}`;
      const r = await kubectl(cp.kubeconfigPath, [
        'get',
        kind.replace(/\.$/, ''),
        o.metadata.name,
        ...ns,
        '-o',
        'name',
      ]);
      assert.equal(r.code, 0, `${identity(o)} is not in the cluster: ${r.stderr}`);
    }
    const deployment = JSON.parse(
      await kubectlOk(cp.kubeconfigPath, [
        '-n',
        'mailroom-system',
        'get',
        'deploy',
        'mailroom-controller',
        '-o',
        'json',
      ]),
    );
    assert.equal(deployment.metadata.annotations['meta.helm.sh/release-name'], 'mailroom');

    await kubectlOk(cp.kubeconfigPath, ['create', 'namespace', 'auth']);
    await kubectlOk(cp.kubeconfigPath, [
      'apply',
      '-n',
      'auth',
      '-f',
      repo('deploy/examples/emailsender.yaml'),
    ]);
    assert.equal(await can('watch', 'emailsenders.mailroom.dev', '-A'), 'yes');
    assert.equal(
      await can('patch', 'emailsenders.mailroom.dev', '--subresource=status', '-n', 'auth'),
      'yes',
    );
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', 'mailroom-system'), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', 'auth'), 'no');
    assert.equal(await can('update', 'emailsenders.mailroom.dev', '-n', 'auth'), 'no');
    assert.equal(await can('list', 'configmaps', '-n', 'auth'), 'no');
  });

  test('upgrades to the namespaced install: Roles in the watched namespaces, nothing cluster-wide', async () => {
    await kubectlOk(cp.kubeconfigPath, ['create', 'namespace', 'team-a']);
    await helm(
      'upgrade',
      'mailroom',
      chart,
      '-n',
      'mailroom-system',
      '--set',
      'namespace.create=false',
      '--set',
      'watchNamespaces={auth,team-a}',
    );
    assert.equal(await can('list', 'secrets', '-n', 'auth'), 'yes');
    assert.equal(await can('list', 'secrets', '-n', 'team-a'), 'yes');
    assert.equal(await can('list', 'secrets', '-n', 'default'), 'no');
    assert.equal(await can('watch', 'emailsenders.mailroom.dev', '-A'), 'no');
    const configs = await kubectl(cp.kubeconfigPath, [
      'get',
      'mutatingwebhookconfiguration',
      'mailroom-sidecar-injector',
    ]);
    assert.notEqual(configs.code, 0, 'the namespaced install has no webhook');
  });

  test('uninstalls what it installed; the CRDs stay (helm never deletes crds/), and so do the senders', async () => {
    await helm('uninstall', 'mailroom', '-n', 'mailroom-system', '--wait');
    const left = await kubectl(cp.kubeconfigPath, [
      'get',
      'deploy,svc,role,rolebinding,clusterrole,clusterrolebinding',
      '-A',
      '-l',
      'app.kubernetes.io/part-of=mailroom',
      '-o',
      'name',
    ]);
    assert.equal(left.code, 0, left.stderr);
    assert.equal(left.stdout.trim(), '');
    assert.notEqual(
      (await kubectl(cp.kubeconfigPath, ['-n', 'mailroom-system', 'get', 'sa', 'mailroom-controller'])).code,
      0,
    );
    await kubectlOk(cp.kubeconfigPath, ['get', 'crd', 'emailsenders.mailroom.dev']);
    await kubectlOk(cp.kubeconfigPath, ['-n', 'auth', 'get', 'emailsender', 'identity']);
  });
});
