/**
 * The webhook e2e environment: a real control plane with the CRDs, an application namespace with an
 * EmailSender, the controller's namespace, `kubectl` as a user drives it, and the webhook started
 * in-process in URL mode (the API server calls it over TLS on 127.0.0.1).
 */
import { fileURLToPath } from 'node:url';
import { type ControlPlane, installCRDs, startControlPlane } from '../../src/controlplane/index.ts';
import { freePorts } from '../../src/controlplane/net.ts';
import { connectKube, type KubeContext } from '../../src/kube/context.ts';
import { loadClusterAccess } from '../../src/kube/kubeconfig.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { startWebhook, type Webhook, type WebhookOptions } from '../../src/webhook/index.ts';
import { type CommandResult, runCommand } from '../support/run-command.ts';

export const APP_NS = 'apps';
export const CONTROLLER_NS = 'mailroom-system';
export const SENDER = 'identity';
export const root = fileURLToPath(new URL('../../', import.meta.url));

/** What kubectl printed, and how it exited. */
export type KubectlResult = CommandResult;

/** The environment of one webhook test file. */
export interface WebhookEnv {
  cp: ControlPlane;
  /** The client layer the webhooks run on. */
  kube: KubeContext;
  /** kubectl as the admin; resolves whatever the exit code. */
  kubectlRaw(args: string[], input?: string): Promise<KubectlResult>;
  /** kubectl as the admin; throws on a non-zero exit. */
  kubectl(...args: string[]): Promise<string>;
  /** Starts a webhook on a free port, registered by URL; stopped by {@link WebhookEnv.stop}. */
  startWebhook(opts?: Partial<WebhookOptions>): Promise<Webhook>;
  stop(): Promise<void>;
}

const log = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', name: 'webhook-test' });

/** A minimal pod manifest (YAML via JSON); pods never run here (no nodes), admission is what counts. */
export function podManifest(name: string, annotations?: Record<string, string>, extra: object = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: {
      containers: [
        { name: 'app', image: 'ghcr.io/example/identity:1.0.0', env: [{ name: 'KEEP', value: 'me' }] },
        { name: 'worker', image: 'ghcr.io/example/worker:1.0.0' },
      ],
      ...extra,
    },
  });
}

/** Starts the control plane, installs the CRDs and creates the namespaces and the EmailSender. */
export async function startWebhookEnv(): Promise<WebhookEnv> {
  const cp = await startControlPlane();
  const webhooks: Webhook[] = [];
  const kubectlRaw = (args: string[], input?: string): Promise<KubectlResult> =>
    runCommand('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], input === undefined ? {} : { input });
  const kubectl = async (...args: string[]): Promise<string> => {
    const r = await kubectlRaw(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  try {
    await installCRDs(cp.kubeconfigPath, `${root}crds`);
    await kubectl('create', 'namespace', APP_NS);
    await kubectl('create', 'namespace', CONTROLLER_NS);
    const sender = {
      apiVersion: 'mailroom.dev/v1alpha1',
      kind: 'EmailSender',
      metadata: { name: SENDER, namespace: APP_NS },
      spec: {
        smtp: { uriSecretRef: { name: 'smtp', key: 'uri' } },
        from: { address: 'no-reply@example.com' },
      },
    };
    const created = await kubectlRaw(['create', '-f', '-'], JSON.stringify(sender));
    if (created.code !== 0) throw new Error(created.stderr);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const kube = await connectKube(await loadClusterAccess(cp.kubeconfigPath), {
    log,
    instance: 'webhook-test',
  });
  return {
    cp,
    kube,
    kubectlRaw,
    kubectl,
    async startWebhook(opts = {}) {
      const [port] = await freePorts(1);
      const webhook = await startWebhook({
        kube,
        listen: `127.0.0.1:${port}`,
        url: `https://127.0.0.1:${port}`,
        namespace: CONTROLLER_NS,
        log,
        ...opts,
      });
      webhooks.push(webhook);
      return webhook;
    },
    async stop() {
      for (const w of webhooks) await w.stop().catch(() => {});
      await kube.close();
      await cp.stop();
    },
  };
}

/** Polls `fn` until it returns a value other than undefined. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
