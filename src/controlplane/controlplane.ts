/**
 * A real Kubernetes control plane (etcd and kube-apiserver as processes on 127.0.0.1) for tests and
 * `mailroom dev`. Nothing else runs: no controller-manager, scheduler or kubelet, so namespaces are
 * not garbage-collected and pods never start, as with controller-runtime's envtest.
 *
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findAssets } from './assets.ts';
import { writeCredentials, writeKubeconfig } from './credentials.ts';
import { onParentExit } from './exit-hooks.ts';
import { freePorts, waitReady } from './net.ts';
import { type ManagedProcess, startProcess } from './process.ts';

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** Folder with `kube-apiserver` and `etcd`; default: what `test/controlplane/assets.sh` prints. */
  assetsDir?: string;
  /** Limit for each process to become ready. Default 60 s. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags (`--name=value`), appended after the defaults so they win. */
  apiserverArgs?: readonly string[];
  /**
   * Kill the processes on SIGINT/SIGTERM/SIGHUP of this process (they are always killed on exit).
   * Default true; pass false when the caller handles those signals and calls `stop()` itself.
   */
  handleSignals?: boolean;
  /** Keep the data dir (etcd data, logs, keys) after `stop()`, to read the logs. Default false. */
  keepDataDir?: boolean;
}

/** A running control plane; see {@link startControlPlane}. */
export interface ControlPlane {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Kubeconfig for the admin user (group `system:masters`), verifying the serving certificate. */
  readonly kubeconfigPath: string;
  /** Bearer token of the admin user. */
  readonly token: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  readonly caPem: string;
  /** Temporary folder holding etcd's data, keys, logs (`etcd.log`, `kube-apiserver.log`). */
  readonly dataDir: string;
  /** `http://127.0.0.1:<port>` of etcd. */
  readonly etcdUrl: string;
  /** Stops kube-apiserver and starts it again on the same port and etcd; open watches break. */
  restartApiserver(): Promise<void>;
  /** Stops both processes and removes the data dir. Safe to call twice. */
  stop(): Promise<void>;
}

const apiserverGraceMs = 10_000;
const etcdGraceMs = 5_000;

/**
 * Starts etcd and kube-apiserver on free loopback ports, waits for `/readyz` and writes a
 * kubeconfig. Takes 3-5 s on 2 cores once the binaries are cached.
 *
 * @example
 * const cp = await startControlPlane();
 * try {
 *   execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, 'get', 'ns']);
 * } finally {
 *   await cp.stop();
 * }
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const assets = opts.assetsDir ?? (await findAssets());
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const dataDir = await mkdtemp(join(tmpdir(), 'mailroom-cp-'));
  const processes: { etcd?: ManagedProcess; apiserver?: ManagedProcess } = {};

  const unregister = onParentExit(
    () => {
      processes.apiserver?.killNow();
      processes.etcd?.killNow();
      // Retries: a process killed a moment ago may still be closing files in the folder.
      if (!opts.keepDataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    },
    { signals: opts.handleSignals ?? true },
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await processes.apiserver?.stop(apiserverGraceMs);
      await processes.etcd?.stop(etcdGraceMs);
      unregister();
      if (!opts.keepDataDir) await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    const [etcdPort, peerPort, apiPort] = await freePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const server = `https://127.0.0.1:${apiPort}`;
    const creds = await writeCredentials(dataDir);

    const etcd = startProcess(
      'etcd',
      join(assets, 'etcd'),
      etcdArgs(dataDir, etcdUrl, peerPort!),
      join(dataDir, 'etcd.log'),
    );
    processes.etcd = etcd;
    await ready(etcd, `${etcdUrl}/health`, undefined, timeoutMs);

    const certDir = join(dataDir, 'pki');
    await mkdir(certDir);
    const args = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      // Without it the apiserver advertises the host's first interface address.
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      // The apiserver makes its own CA and serving certificate here, and reuses them after a restart.
      `--cert-dir=${certDir}`,
      `--token-auth-file=${creds.tokenFile}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${creds.publicKeyFile}`,
      `--service-account-signing-key-file=${creds.signingKeyFile}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // Nothing here could use the `kubernetes` Service's endpoints, and 127.0.0.1 would be a wrong one.
      '--endpoint-reconciler-type=none',
      // No controller-manager creates the `default` ServiceAccount, so this plugin would refuse every
      // pod, and the sidecar-injection webhook is tested with pods. envtest makes the same choice.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--profiling=false',
      ...(opts.apiserverArgs ?? []),
    ];
    const apiserverLog = join(dataDir, 'kube-apiserver.log');
    const startApiserver = async (): Promise<void> => {
      const apiserver = startProcess('kube-apiserver', join(assets, 'kube-apiserver'), args, apiserverLog);
      processes.apiserver = apiserver;
      await ready(apiserver, `${server}/readyz`, creds.token, timeoutMs);
    };
    await startApiserver();

    const caPem = await readCa(join(certDir, 'apiserver.crt'));
    const kubeconfigPath = join(dataDir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, server, creds.token, caPem);

    return {
      server,
      kubeconfigPath,
      token: creds.token,
      caPem,
      dataDir,
      etcdUrl,
      stop,
      async restartApiserver() {
        if (stopping) throw new Error('control plane is stopped');
        await processes.apiserver?.stop(apiserverGraceMs);
        await startApiserver();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function etcdArgs(dataDir: string, clientUrl: string, peerPort: number): string[] {
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=mailroom',
    `--data-dir=${join(dataDir, 'etcd')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=mailroom=${peerUrl}`,
    // Throw-away data: durability costs seconds of fsync per test run and buys nothing.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

async function ready(
  proc: ManagedProcess,
  url: string,
  token: string | undefined,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitReady(url, { token, timeoutMs, alive: () => proc.running() });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`${proc.name} did not start: ${why}\n--- ${proc.logFile} (tail) ---\n${proc.logTail()}`, {
      cause: err,
    });
  }
}

/** Keeps only the CA of the bundle the apiserver wrote (serving certificate first, then its CA). */
async function readCa(bundlePath: string): Promise<string> {
  const pem = await readFile(bundlePath, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  const cas = blocks.filter((b) => new X509Certificate(b).ca);
  return cas.length > 0 ? cas.join('') : pem;
}
