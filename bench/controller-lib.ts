/**
 * Helpers of the controller benchmark: bulk creates with bounded concurrency on one keep-alive
 * client, the raw-client peer, a watcher that counts Ready senders and status changes, and the
 * controller process as shipped (compiled, the Deployment's node flags and NODE_OPTIONS, the webhook on).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, parseAllDocuments } from 'yaml';
import type { EmailSender, EmailSenderStatus } from '../src/api/emailsender.ts';
import { SENDERS } from '../src/controller/kube.ts';
import { freePorts } from '../src/controlplane/net.ts';
import { Informer } from '../src/kube/informer.ts';
import { loadClusterAccess } from '../src/kube/kubeconfig.ts';
import { KubeRest } from '../src/kube/rest.ts';
import { createLogger } from '../src/runtime/logger.ts';

const root = new URL('../', import.meta.url).pathname;

/** A keep-alive API client for a kubeconfig file. */
export async function restFor(kubeconfig: string): Promise<KubeRest> {
  return new KubeRest(await loadClusterAccess(kubeconfig)).init();
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      for (let attempt = 0; ; attempt++) {
        try {
          await fn(item);
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
          await sleep(200 * 2 ** attempt);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** An EmailSender body. */
export function senderBody(namespace: string, name: string, secret: string): unknown {
  return {
    apiVersion: 'mailroom.dev/v1alpha1',
    kind: 'EmailSender',
    metadata: { name, namespace },
    spec: {
      smtp: { uriSecretRef: { name: secret, key: 'uri' }, caSecretRef: { name: 'corp-ca', key: 'ca.crt' } },
      from: { address: 'no-reply@example.com' },
    },
  };
}

/** Creates EmailSenders. */
export function createSenders(
  rest: KubeRest,
  namespace: string,
  names: string[],
  secretOf: (i: number) => string,
) {
  return pool(
    names.map((n, i) => [n, i] as const),
    16,
    ([name, i]) =>
      rest.request('POST', `${SENDERS.prefix}/namespaces/${namespace}/emailsenders`, {
        body: senderBody(namespace, name, secretOf(i)),
      }),
  );
}

/** Creates a Secret. */
export function createSecret(rest: KubeRest, namespace: string, name: string, data: Record<string, string>) {
  return rest.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data },
  });
}

/** Watches the senders of a namespace: how many are Ready, and how many status changes arrive. */
export class ReadyWatcher {
  readonly #informer: Informer<EmailSender>;
  ready = 0;
  modified = 0;
  readonly #isReady = new Map<string, boolean>();
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(rest: KubeRest, namespace: string) {
    this.#informer = new Informer<EmailSender>({
      rest,
      resource: SENDERS,
      namespaces: [namespace],
      log: createLogger({ level: 'warn' }),
      transform: (raw) => raw as EmailSender,
    });
    this.#informer.onChange((type, s) => {
      if (type === 'update') this.modified++;
      const key = s.metadata.name;
      const ready =
        type !== 'delete' &&
        s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      if (ready !== (this.#isReady.get(key) ?? false)) this.ready += ready ? 1 : -1;
      this.#isReady.set(key, ready);
      const done = this.#waiters.filter((w) => this.ready >= w.n);
      this.#waiters = this.#waiters.filter((w) => this.ready < w.n);
      for (const w of done) w.resolve();
    });
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  /** Resolves once `n` senders are Ready. */
  until(n: number): Promise<void> {
    if (this.ready >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }
}

/**
 * The writes the controller makes for one sender once it is Ready, made by a raw client: the
 * status patch (Ready and its facts), the rendered config Secret (owned by the sender) and one
 * Event. The peer of the controller run: same API server, same keep-alive client, same concurrency.
 */
export async function rawWrites(rest: KubeRest, namespace: string, name: string): Promise<void> {
  const sender = await rest.request<EmailSender>(
    'GET',
    `${SENDERS.prefix}/namespaces/${namespace}/emailsenders/${name}`,
  );
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: type === 'Ready' ? ('True' as const) : ('False' as const),
    reason,
    message,
    lastTransitionTime: now,
    observedGeneration: 1,
  });
  // What the controller writes for a Ready sender (the shape of one of its status writes).
  const status: EmailSenderStatus = {
    observedGeneration: 1,
    endpoint: 'localhost:2525',
    security: 'StartTLS',
    conditions: [
      condition('Ready', 'Verified', 'localhost:2525 answered EHLO, STARTTLS and AUTH in 12 ms'),
      condition('Reconciling', 'Verified', ''),
      condition('Stalled', 'Verified', ''),
    ],
    lastProbe: {
      time: now,
      durationMs: 12,
      result: 'Verified',
      greeting: '220 localhost ESMTP',
      extensions: ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'AUTH PLAIN LOGIN', 'STARTTLS'],
      authMechanisms: ['PLAIN', 'LOGIN'],
      tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    },
    config: { secretName: `${name}-config`, revision: 'r1', publishedAt: now },
  };
  await rest.request('PATCH', `${SENDERS.prefix}/namespaces/${namespace}/emailsenders/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status },
  });
  const config = JSON.stringify(
    {
      kind: 'RenderedConfig',
      smtp: { uri: 'smtp://user:pass@localhost:2525/' },
      from: 'no-reply@example.com',
    },
    null,
    2,
  ).padEnd(600, ' ');
  await rest.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: `${name}-config`,
        namespace,
        labels: { 'mailroom.dev/sender': name, 'app.kubernetes.io/managed-by': 'mailroom' },
        annotations: { 'mailroom.dev/revision': 'r1', 'mailroom.dev/published-at': now },
        ownerReferences: [
          {
            apiVersion: 'mailroom.dev/v1alpha1',
            kind: 'EmailSender',
            name,
            uid: sender.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      data: { 'config.json': Buffer.from(config).toString('base64') },
    },
  });
  await rest.request('POST', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
    body: {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      eventTime: new Date().toISOString().replace(/(\.\d{3})Z$/, '$1000Z'),
      reportingController: 'mailroom.dev/bench',
      reportingInstance: 'bench',
      action: 'Probe',
      reason: 'Verified',
      note: 'localhost:2525 answered EHLO, STARTTLS and AUTH',
      type: 'Normal',
      regarding: {
        apiVersion: 'mailroom.dev/v1alpha1',
        kind: 'EmailSender',
        namespace,
        name,
        uid: sender.metadata.uid,
      },
    },
  });
}

/** The controller as its own process (so its RSS is its own). */
export interface ControllerChild {
  child: ChildProcess;
  metricsUrl: string;
  /** The webhook's `host:port`. */
  webhook: string;
  metric(name: string): Promise<number>;
  rssMb(): number;
  stop(): Promise<void>;
}

/** The controller container of deploy/controller/deployment.yaml. */
function shippedContainer(): { command?: string[]; env?: Array<{ name: string; value?: string }> } {
  const docs = parseAllDocuments(readFileSync(join(root, 'deploy/controller/deployment.yaml'), 'utf8'));
  for (const doc of docs) {
    const d = doc.toJS() as {
      kind?: string;
      spec?: {
        template?: {
          spec?: {
            containers?: Array<{ command?: string[]; env?: Array<{ name: string; value?: string }> }>;
          };
        };
      };
    };
    const c = d.kind === 'Deployment' ? d.spec?.template?.spec?.containers?.[0] : undefined;
    if (c) return c;
  }
  throw new Error('deploy/controller/deployment.yaml has no Deployment');
}

/**
 * The controller's NODE_OPTIONS as deploy/controller/deployment.yaml sets them (BENCH_NODE_OPTIONS overrides),
 * so the bench measures what is deployed.
 */
export function shippedNodeOptions(): string {
  if (process.env.BENCH_NODE_OPTIONS !== undefined) return process.env.BENCH_NODE_OPTIONS;
  const value = shippedContainer().env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (value === undefined) throw new Error('deploy/controller/deployment.yaml sets no NODE_OPTIONS');
  return value;
}

/**
 * The flags the Deployment's `command` gives node before the script (V8 flags NODE_OPTIONS refuses);
 * BENCH_NODE_ARGS (space-separated) overrides.
 */
export function shippedNodeFlags(): string[] {
  if (process.env.BENCH_NODE_ARGS !== undefined)
    return process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean);
  const [node, ...rest] = shippedContainer().command ?? [];
  if (node === undefined) return [];
  if (node !== 'node')
    throw new Error(`deploy/controller/deployment.yaml: command starts with ${node}, not node`);
  return rest.filter((a) => a.startsWith('-'));
}

/** Builds the shipped artifact (`npm run build` → dist/) and returns its `mailroom` binary. */
export function buildArtifact(): string {
  execFileSync(process.execPath, [join(root, 'scripts/build.ts')], { stdio: 'inherit' });
  return join(root, 'dist/cli/main.js');
}

/**
 * Starts the compiled `mailroom controller` as deploy/ runs it (leader election, the webhook on,
 * NODE_OPTIONS and node's flags), against `kubeconfig`; the webhook is registered by URL on a loopback port, as
 * outside a cluster it must be. Info logs are read for the start line, then dropped.
 *
 * In a cluster the controller reads its ServiceAccount and parses no kubeconfig, so it never loads
 * a YAML parser; here it is handed the kubeconfig as JSON (which it reads without one), so that
 * its memory is what it is in a cluster.
 */
export async function startController(
  main: string,
  kubeconfig: string,
  namespace: string,
  extra: string[] = [],
): Promise<ControllerChild> {
  const [port] = await freePorts(1);
  const webhook = `127.0.0.1:${port}`;
  const jsonKubeconfig = `${kubeconfig}.json`;
  writeFileSync(jsonKubeconfig, JSON.stringify(parse(readFileSync(kubeconfig, 'utf8'))), { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [
      ...shippedNodeFlags(),
      main,
      'controller',
      '--leader-elect',
      `--webhook-listen=${webhook}`,
      `--webhook-url=https://${webhook}`,
      '--kubeconfig',
      jsonKubeconfig,
      '--metrics-listen',
      '127.0.0.1:0',
      '--health-listen',
      '127.0.0.1:0',
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        NODE_OPTIONS: shippedNodeOptions(),
        POD_NAMESPACE: namespace,
        POD_NAME: 'bench-controller',
      },
    },
  );
  let metricsUrl = '';
  let serving = false;
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (metricsUrl && serving) return;
    out += d;
    serving ||= out.includes('webhook serving');
    const line = out.split('\n').find((l) => l.includes('controller starting'));
    if (line) metricsUrl = (JSON.parse(line) as { metrics: string }).metrics;
  });
  for (let i = 0; i < 600 && !(metricsUrl && serving); i++) await sleep(50);
  if (!metricsUrl || !serving) throw new Error(`controller did not start: ${out}`);
  const metric = async (name: string) => {
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    let total = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
      total += Number(m[1]);
    return total;
  };
  return {
    child,
    metricsUrl,
    webhook,
    metric,
    rssMb: () =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
