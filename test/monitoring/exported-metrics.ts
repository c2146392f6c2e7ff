/**
 * The metrics the code really exports, with their label names, read from the code's registries:
 * the controller's (`createControllerMetrics`) and a real sidecar's (started on loopback, so its
 * default sender labels are in), plus the few series from outside the code the rules rely on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { createRegistry } from '../../src/runtime/metrics.ts';
import { configFromFlags } from '../../src/sidecar/config.ts';
import { startSidecar } from '../../src/sidecar/sidecar.ts';

/** Metric name → label names it can carry. */
export type Exported = Map<string, Set<string>>;

/**
 * Labels Prometheus adds to every scraped series: `job` and `instance` always, and the Prometheus
 * Operator's `namespace`, `pod`, `container`, `service`, `endpoint` for Service/PodMonitors.
 */
export const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'container', 'service', 'endpoint'];

/**
 * Series that do not come from Mailroom's code: `up` from Prometheus itself, and the API server's
 * counts of webhook calls (MailroomWebhookErrors). test/monitoring/prometheus.test.ts checks the
 * latter against a real kube-apiserver's /metrics.
 */
export const OUTSIDE: Record<string, string[]> = {
  up: [],
  apiserver_admission_webhook_rejection_count: ['name', 'operation', 'type', 'error_type', 'rejection_code'],
  apiserver_admission_webhook_fail_open_count: ['name', 'type'],
};

async function add(exported: Exported, registry: Registry): Promise<void> {
  const mine = new Set<string>();
  // Declared label names (known even before a series exists)…
  for (const { name, type } of await registry.getMetricsAsJSON()) {
    // prom-client keeps the declared names on the metric object; its typings do not show them.
    const metric = registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] };
    const labels = metric.labelNames ?? [];
    const names = String(type) === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
    for (const n of names) {
      exported.set(n, new Set([...labels, ...(n.endsWith('_bucket') ? ['le'] : [])]));
      mine.add(n);
    }
  }
  // …and the registry's default labels, which every series carries: those on every sample line.
  let defaults: Set<string> | undefined;
  for (const line of (await registry.metrics()).split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const body = /^[a-zA-Z_:][a-zA-Z0-9_:]*\{([^}]*)\}/.exec(line)?.[1] ?? '';
    const labels = new Set([...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map((m) => m[1]!));
    defaults = defaults ? new Set([...defaults].filter((l) => labels.has(l))) : labels;
  }
  for (const n of mine) for (const l of defaults ?? []) exported.get(n)!.add(l);
}

/** Reads what the controller and a real sidecar export. */
export async function exportedMetrics(): Promise<Exported> {
  const exported: Exported = new Map();
  const controller = createRegistry();
  createControllerMetrics(controller);
  await add(exported, controller);

  const dataDir = await mkdtemp(join(tmpdir(), 'mailroom-metrics-'));
  const sidecar = await startSidecar({
    dataDir,
    logger: createLogger({ level: 'silent', name: 'sidecar' }),
    config: {
      kind: 'static',
      config: configFromFlags({ uri: 'smtp://127.0.0.1:9/', from: 'a@example.com' }),
    },
    smtpListen: { host: '127.0.0.1', port: 0 },
    httpListen: { host: '127.0.0.1', port: 0 },
  });
  try {
    await add(exported, sidecar.registry);
  } finally {
    await sidecar.stop(1000);
    await rm(dataDir, { recursive: true, force: true });
  }
  for (const [name, labels] of Object.entries(OUTSIDE)) exported.set(name, new Set(labels));
  return exported;
}
