/**
 * The e2e environment of the controller: a real control plane with the CRDs, the controller's RBAC
 * from `deploy/` bound to a ServiceAccount whose TokenRequest token the controller runs with, the
 * controller as a child process, and `kubectl` as a user drives it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import {
  type ControlPlane,
  type ControlPlaneOptions,
  installCRDs,
  startControlPlane,
} from '../../src/controlplane/index.ts';
import { kubectlOrThrow } from './run-command.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const node = process.execPath;

/** A running controller process and everything it printed. */
export interface ControllerProcess {
  child: ChildProcess;
  /** stdout + stderr lines. */
  lines: string[];
  metricsUrl: string;
  healthUrl: string;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number | null>;
}

/** The environment of one e2e test file. */
export interface ControllerEnv {
  cp: ControlPlane;
  /** kubectl as the admin. */
  kubectl(...args: string[]): Promise<string>;
  /** kubectl with stdin. */
  apply(yaml: string): Promise<string>;
  /** Kubeconfig holding the controller's ServiceAccount token (RBAC from deploy/). */
  controllerKubeconfig: string;
  startController(extra?: string[]): Promise<ControllerProcess>;
  /** Every line every controller of this env printed. */
  allLines: string[];
  stop(): Promise<void>;
}

/**
 * The RBAC objects of an install (ServiceAccount, roles, bindings, namespace), as kustomize renders
 * them: `deploy/` by default, or another kustomization such as `deploy/overlays/namespaced`.
 */
export async function deployRbac(install = 'deploy'): Promise<string> {
  const { stdout } = await run('kubectl', ['kustomize', join(root, install)], { maxBuffer: 32 << 20 });
  const kinds = new Set([
    'Namespace',
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
  ]);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind?: string })
    .filter((o) => o && kinds.has(o.kind ?? ''))
    .map((o) => stringify(o))
    .join('---\n');
}

/** Options of {@link startControllerEnv}. */
export interface ControllerEnvOptions {
  /** Kustomization whose RBAC the controller runs under. Default `deploy`. */
  install?: string;
  /** Namespaces created before that RBAC is applied (its RoleBindings may live in them). */
  namespaces?: string[];
  /** Options of the control plane (extra kube-apiserver flags: an audit log). */
  controlPlane?: ControlPlaneOptions;
}

/** Starts a control plane with CRDs and RBAC; the controller is started by the test. */
export async function startControllerEnv(opts: ControllerEnvOptions = {}): Promise<ControllerEnv> {
  const cp = await startControlPlane(opts.controlPlane);
  const kubectl = (...args: string[]) => kubectlOrThrow(cp.kubeconfigPath, args);
  const apply = (yaml: string) => kubectlOrThrow(cp.kubeconfigPath, ['apply', '-f', '-'], yaml);
  const children = new Set<ControllerProcess>();
  const allLines: string[] = [];
  try {
    await installCRDs(cp.kubeconfigPath, join(root, 'crds'));
    for (const ns of opts.namespaces ?? []) await kubectl('create', 'namespace', ns);
    await apply(await deployRbac(opts.install));
    const token = (
      await kubectl('-n', 'mailroom-system', 'create', 'token', 'mailroom-controller', '--duration=4h')
    ).trim();
    const controllerKubeconfig = join(cp.dataDir, 'controller.kubeconfig');
    await writeFile(
      controllerKubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'cp',
            cluster: {
              server: cp.server,
              'certificate-authority-data': Buffer.from(cp.caPem).toString('base64'),
            },
          },
        ],
        users: [{ name: 'controller', user: { token } }],
        contexts: [{ name: 'cp', context: { cluster: 'cp', user: 'controller' } }],
        'current-context': 'cp',
      }),
      { mode: 0o600 },
    );

    const startController = async (extra: string[] = []): Promise<ControllerProcess> => {
      const child = spawn(
        node,
        [
          join(root, 'test/support/controller-main.ts'),
          'controller',
          '--kubeconfig',
          controllerKubeconfig,
          '--metrics-listen',
          '127.0.0.1:0',
          '--health-listen',
          '127.0.0.1:0',
          '--log-level',
          'debug',
          // Deliverability asks DNS about the From domain: only through a test DNS server on loopback.
          ...(extra.includes('--dns-server') ? [] : ['--no-deliverability']),
          ...extra,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'debug' } },
      );
      const lines: string[] = [];
      let buffered = '';
      const onData = (d: string) => {
        buffered += d;
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        lines.push(...parts);
        allLines.push(...parts);
        if (process.env.CONTROLLER_LOGS) for (const p of parts) process.stderr.write(`[controller] ${p}\n`);
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.stderr.setEncoding('utf8').on('data', onData);
      const exited = once(child, 'exit') as Promise<[number | null]>;
      let started: { metrics: string; health: string } | undefined;
      // Generous: on a loaded 2-core machine loading the controller's modules alone can take 20 s.
      const deadline = Date.now() + 60_000;
      while (!started && Date.now() < deadline) {
        for (const l of lines) {
          if (!l.includes('controller starting')) continue;
          const rec = JSON.parse(l) as { metrics: string; health: string };
          started = rec;
        }
        if (!started) {
          if (child.exitCode !== null)
            throw new Error(`controller exited ${child.exitCode}:\n${lines.join('\n')}`);
          await sleep(50);
        }
      }
      if (!started) {
        // Never leave a half-started controller behind: it would act on later tests' objects.
        child.kill('SIGKILL');
        throw new Error(`controller did not start:\n${lines.join('\n')}`);
      }
      const proc: ControllerProcess = {
        child,
        lines,
        metricsUrl: started.metrics,
        healthUrl: started.health,
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          const [code] = await exited;
          children.delete(proc);
          return code;
        },
      };
      children.add(proc);
      return proc;
    };

    return {
      cp,
      kubectl,
      apply,
      controllerKubeconfig,
      startController,
      allLines,
      async stop() {
        for (const c of children) c.child.kill('SIGKILL');
        await cp.stop();
      },
    };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; returns that value. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(200);
  }
}
