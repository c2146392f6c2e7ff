/**
 * deploy/ on a real apiserver: `kubectl apply --dry-run=server -k deploy/` is accepted (after the
 * CRD is installed, as a user's first apply would do it), and so are the examples.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ControlPlane, installCRDs, startControlPlane } from '../../src/controlplane/index.ts';
import { kubectl, kubectlOk } from '../crd/kubectl.ts';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

describe('deploy/ on a real apiserver', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp.kubeconfigPath, repo('crds'));
  });
  after(() => cp?.stop());

  test('kubectl apply --dry-run=server -k deploy/ is accepted', async () => {
    // A dry run creates nothing, so the objects in mailroom-system need the namespace to exist,
    // as the CRD must for any EmailSender.
    await kubectlOk(cp.kubeconfigPath, ['create', 'namespace', 'mailroom-system']);
    const r = await kubectl(cp.kubeconfigPath, [
      'apply',
      '--dry-run=server',
      '--server-side',
      '-k',
      repo('deploy'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment\.apps\/mailroom-controller serverside-applied \(server dry run\)/);
    assert.match(r.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/mailroom-controller/);
    assert.match(r.stdout, /networkpolicy\.networking\.k8s\.io\/mailroom-controller serverside-applied/);
    assert.match(r.stdout, /poddisruptionbudget\.policy\/mailroom-controller serverside-applied/);
  });

  test('the base applies for real, and the example on top of it', async () => {
    await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '--force-conflicts', '-k', repo('deploy')]);
    const r = await kubectl(cp.kubeconfigPath, ['apply', '--server-side', '-k', repo('deploy/examples')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /emailsender\.mailroom\.dev\/identity serverside-applied/);
    const sender = JSON.parse(
      await kubectlOk(cp.kubeconfigPath, ['-n', 'mailroom-demo', 'get', 'esender', 'identity', '-o', 'json']),
    );
    assert.equal(sender.spec.delivery.ratePerSecond, 0, 'defaulted by the CRD');
  });

  test('the controller ServiceAccount may do what it needs and nothing more', async () => {
    const as = ['--as', 'system:serviceaccount:mailroom-system:mailroom-controller'];
    const can = async (...args: string[]) =>
      (await kubectl(cp.kubeconfigPath, ['auth', 'can-i', ...as, ...args])).stdout.trim();
    assert.equal(await can('watch', 'emailsenders.mailroom.dev', '-A'), 'yes');
    assert.equal(
      await can('patch', 'emailsenders.mailroom.dev', '--subresource=status', '-n', 'auth'),
      'yes',
    );
    assert.equal(await can('create', 'secrets', '-n', 'auth'), 'yes');
    assert.equal(await can('create', 'events.events.k8s.io', '-n', 'auth'), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', 'mailroom-system'), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io', '-n', 'auth'), 'no');
    // ClusterEmailSender copies (`<name>-cluster-mailroom`) are removed where they are no longer used;
    // RBAC cannot narrow delete to run-time names, but never to whole collections.
    assert.equal(await can('delete', 'secrets', '-n', 'auth'), 'yes');
    assert.equal(await can('deletecollection', 'secrets', '-n', 'auth'), 'no');
    assert.equal(await can('update', 'emailsenders.mailroom.dev', '-n', 'auth'), 'no');
    // The webhook watches the pods it injected (status.consumers); nothing else about pods.
    assert.equal(await can('list', 'pods', '-A'), 'yes');
    assert.equal(await can('delete', 'pods', '-A'), 'no');
    assert.equal(await can('list', 'configmaps', '-A'), 'no');
  });
});
