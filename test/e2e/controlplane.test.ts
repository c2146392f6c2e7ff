/**
 * The control-plane harness against the real binaries: version, TokenRequest, an apiserver restart,
 * CRD installation, and no process left behind by stop(), SIGINT or SIGKILL of the parent.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  type ControlPlane,
  findAssets,
  installCRDs,
  startControlPlane,
} from '../../src/controlplane/index.ts';

const run = promisify(execFile);
const goMod = new URL('../controlplane/go.mod', import.meta.url);
const harness = new URL('../../src/controlplane/index.ts', import.meta.url).href;

async function pinnedVersion(): Promise<string> {
  const match = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(await readFile(goMod, 'utf8'));
  assert.ok(match, 'k8s.io/kubernetes version in go.mod');
  return match[1]!;
}

/** PIDs of live processes whose command line mentions `needle` (our data dir). */
async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const state = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // A zombie has already exited; only its parent's bookkeeping is left.
    if (cmdline.includes(needle) && !/^\d+ \(.*\) Z/.test(state)) pids.push(Number(entry));
  }
  return pids;
}

async function eventuallyNoProcesses(dataDir: string): Promise<void> {
  for (let i = 0; i < 50 && (await processesMentioning(dataDir)).length > 0; i++) await sleep(100);
  assert.deepEqual(await processesMentioning(dataDir), [], `processes left for ${dataDir}`);
}

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.test.mailroom.dev }
spec:
  group: test.mailroom.dev
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;

describe('control plane', () => {
  let assets: string;
  let cp: ControlPlane;
  const kubectl = async (...args: string[]) =>
    (await run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args])).stdout;

  before(async () => {
    assets = await findAssets();
    cp = await startControlPlane({ assetsDir: assets });
  });
  after(() => cp?.stop());

  test('serves the version pinned in test/controlplane/go.mod', async () => {
    const version = JSON.parse(await kubectl('get', '--raw', '/version'));
    assert.equal(version.gitVersion, await pinnedVersion());
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test('issues service-account tokens that authenticate (TokenRequest)', async () => {
    await kubectl('create', 'namespace', 'cp-test');
    await kubectl('-n', 'cp-test', 'create', 'serviceaccount', 'robot');
    const token = (await kubectl('-n', 'cp-test', 'create', 'token', 'robot')).trim();
    assert.match(token, /^ey/);
    const review = JSON.parse(await kubectl('--token', token, 'auth', 'whoami', '-o', 'json'));
    assert.equal(review.status.userInfo.username, 'system:serviceaccount:cp-test:robot');
    // RBAC is on: the new account may do nothing yet.
    const can = await run('kubectl', [
      '--kubeconfig',
      cp.kubeconfigPath,
      '--token',
      token,
      'auth',
      'can-i',
      'list',
      'secrets',
    ]).catch((err: { stdout: string }) => err);
    assert.equal(can.stdout.trim(), 'no');
  });

  test('answers again after restartApiserver, with its data kept', async () => {
    await cp.restartApiserver();
    assert.match(await kubectl('get', 'namespace', 'cp-test', '-o', 'name'), /namespace\/cp-test/);
  });

  test('installCRDs applies a folder and waits for Established; an empty folder is fine', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailroom-crds-'));
    try {
      assert.deepEqual(await installCRDs(cp.kubeconfigPath, dir), []);
      await writeFile(join(dir, 'widgets.yaml'), crd);
      assert.deepEqual(await installCRDs(cp.kubeconfigPath, dir), [
        'customresourcedefinition.apiextensions.k8s.io/widgets.test.mailroom.dev',
      ]);
      assert.equal((await kubectl('get', 'widgets', '-A', '-o', 'name')).trim(), '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('stop() leaves no process and no data dir', async () => {
    assert.ok((await processesMentioning(cp.dataDir)).length >= 2, 'etcd and kube-apiserver found running');
    await cp.stop();
    await eventuallyNoProcesses(cp.dataDir);
    assert.equal(existsSync(cp.dataDir), false);
  });

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    test(`${signal} to the parent leaves no process behind`, async () => {
      const script = `
        const { startControlPlane } = await import(${JSON.stringify(harness)});
        const cp = await startControlPlane({ assetsDir: ${JSON.stringify(assets)} });
        console.log(cp.dataDir);
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.once('exit', (_c, s) => resolve(s)),
      );
      const dataDir = await new Promise<string>((resolve, reject) => {
        child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(line.trim()));
        child.once('exit', () => reject(new Error('child exited before starting the control plane')));
      });
      assert.ok((await processesMentioning(dataDir)).length >= 2);
      child.kill(signal);
      // SIGINT is handled and then re-raised, so the parent still dies of it.
      assert.equal(await exited, signal);
      await eventuallyNoProcesses(dataDir);
      if (signal === 'SIGINT') assert.equal(existsSync(dataDir), false);
      else await rm(dataDir, { recursive: true, force: true });
    });
  }
});
