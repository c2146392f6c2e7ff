/**
 * Helpers of the controller benchmark: bulk creates with bounded concurrency on one keep-alive
 * client, a watcher that counts Ready senders and status changes, and the controller process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmailSender } from '../src/api/emailsender.ts';
import { SENDERS } from '../src/controller/kube.ts';
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

/** The controller as its own process (so its RSS is its own). */
export interface ControllerChild {
  child: ChildProcess;
  metricsUrl: string;
  metric(name: string): Promise<number>;
  rssMb(): number;
  stop(): Promise<void>;
}

/**
 * V8 flags for the controller process (BENCH_NODE_FLAGS, space-separated). Default: a 2 MB
 * young-generation semi-space, as docs/controller.md recommends for the Deployment (V8's default
 * grows it to 64 MB under a burst of watch events, and RSS with it).
 */
// Default: the NODE_OPTIONS of deploy/controller/deployment.yaml, so the bench measures what is deployed.
export const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=2 --max-old-space-size=128')
  .split(' ')
  .filter(Boolean);

/**
 * The controller entry point: TypeScript run by type stripping (as in tests), or, with
 * BENCH_COMPILED=1, compiled to JavaScript first as the container image runs it (no type stripper,
 * no TypeScript sources held in memory).
 */
async function entryPoint(): Promise<string> {
  if (process.env.BENCH_COMPILED === '0') return join(root, 'test/support/controller-main.ts');
  const out = mkdtempSync(join(tmpdir(), 'mailroom-bench-js-'));
  await new Promise<void>((resolve) => {
    const tsc = spawn(
      join(root, 'node_modules/.bin/tsc'),
      ['-p', join(root, 'tsconfig.build.json'), '--outDir', out],
      {
        stdio: 'ignore',
      },
    );
    tsc.once('exit', () => resolve()); // type errors elsewhere in the tree still emit JavaScript
  });
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  const main = join(out, 'controller-main.js');
  writeFileSync(
    main,
    "import { Command } from 'commander';\nimport { registerControllerCommand } from './cli/controller.js';\n" +
      "const program = new Command('mailroom');\nregisterControllerCommand(program);\nawait program.parseAsync(process.argv);\n",
  );
  return main;
}

/** Starts `mailroom controller` against `kubeconfig` (info logs are read for the start line, then dropped). */
export async function startController(kubeconfig: string, extra: string[] = []): Promise<ControllerChild> {
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      await entryPoint(),
      'controller',
      '--kubeconfig',
      kubeconfig,
      '--metrics-listen',
      '127.0.0.1:0',
      '--health-listen',
      '127.0.0.1:0',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let metricsUrl = '';
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (metricsUrl) return;
    out += d;
    const line = out.split('\n').find((l) => l.includes('controller starting'));
    if (line) metricsUrl = (JSON.parse(line) as { metrics: string }).metrics;
  });
  for (let i = 0; i < 200 && !metricsUrl; i++) await sleep(50);
  if (!metricsUrl) throw new Error(`controller did not start: ${out}`);
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
    metric,
    rssMb: () =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
