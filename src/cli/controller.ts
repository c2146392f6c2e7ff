/**
 * `mailroom controller`: runs the EmailSender controller in a cluster (in-cluster config) or
 * outside one (`--kubeconfig`, `KUBECONFIG`), with health, readiness and metrics endpoints.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../api/duration.ts';
import { Controller } from '../controller/index.ts';
import { createDeliverabilityChecker } from '../deliverability/checker.ts';
import { connectKube } from '../kube/context.ts';
import { loadClusterAccess } from '../kube/kubeconfig.ts';
import { startHttpServer } from '../runtime/health.ts';
import { createLogger } from '../runtime/logger.ts';
import { createRegistry } from '../runtime/metrics.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { probe } from '../smtp/probe.ts';
import { addWebhookOptions, startWebhookFromFlags, type WebhookFlags } from '../webhook/options.ts';

/** Flags of `mailroom controller`, after parsing. */
export interface ControllerFlags extends WebhookFlags {
  kubeconfig?: string;
  namespace: string[];
  labelSelector?: string;
  leaderElect: boolean;
  leaseNamespace?: string;
  leaseName: string;
  /** `--leader-elect-lease-duration`, `--leader-elect-renew-deadline`, `--leader-elect-retry-period`, in ms. */
  leaderElectLeaseDuration: number;
  leaderElectRenewDeadline: number;
  leaderElectRetryPeriod: number;
  metricsListen: string;
  healthListen: string;
  concurrency: number;
  logLevel: string;
  /** DNS servers for the Deliverable checks (`--dns-server`); empty: the system resolver. */
  dnsServer?: string[];
  /** `--no-deliverability` sets false. */
  deliverability?: boolean;
  /** Where ClusterEmailSenders' Secrets live (default: the controller's own namespace). */
  clusterResourceNamespace?: string;
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function podNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim();
  } catch {
    return 'default';
  }
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 100)
    throw new InvalidArgumentError('expected a duration of at least 100ms, e.g. 15s');
  return ms;
}

const collect = (value: string, previous: string[]) => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `--namespace`: repeatable or comma-separated; each must be a namespace name, or the watch would 404. */
function namespaces(value: string, previous: string[]): string[] {
  const all = collect(value, previous);
  const bad = all.find((ns) => !NAMESPACE.test(ns));
  if (bad !== undefined)
    throw new InvalidArgumentError(
      `"${bad}" is not a namespace name (lowercase letters, digits and "-", at most 63 characters, starting and ending with a letter or digit)`,
    );
  return [...new Set(all)];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return n;
}

/** Runs the controller until SIGTERM/SIGINT (or lost leadership, which exits 1 for a restart). */
export async function runController(flags: ControllerFlags): Promise<void> {
  const log = createLogger({ level: flags.logLevel, name: 'controller' });
  const access = await loadClusterAccess(flags.kubeconfig);
  // One client layer for the process: the controller and the webhook share its connections,
  // Event recorder and (when both watch every namespace) the EmailSender cache.
  const kube = await connectKube(access, {
    log,
    ...(process.env.POD_NAME ? { instance: process.env.POD_NAME } : {}),
  });
  const registry = createRegistry();
  let shutdown: (reason: string, code?: number) => Promise<void> = async () => {};
  const controller = new Controller({
    kube,
    probe,
    log,
    registry,
    namespaces: flags.namespace,
    concurrency: flags.concurrency,
    ...(flags.labelSelector ? { labelSelector: flags.labelSelector } : {}),
    ...(flags.leaderElect
      ? {
          leaderElection: {
            namespace: flags.leaseNamespace ?? podNamespace(),
            name: flags.leaseName,
            leaseDurationMs: flags.leaderElectLeaseDuration,
            renewDeadlineMs: flags.leaderElectRenewDeadline,
            retryPeriodMs: flags.leaderElectRetryPeriod,
            ...(process.env.POD_NAME
              ? { identity: `${process.env.POD_NAME}_${randomBytes(4).toString('hex')}` }
              : {}),
          },
        }
      : {}),
    onLeadershipLost: () => void shutdown('leadership lost', 1),
    clusterResourceNamespace: flags.clusterResourceNamespace ?? podNamespace(),
    ...(flags.deliverability !== false
      ? { checkDeliverability: createDeliverabilityChecker({ servers: flags.dnsServer ?? [] }) }
      : {}),
  });
  const { healthz, readyz } = controller.checks;
  const same = flags.healthListen === flags.metricsListen;
  const servers = [
    await startHttpServer({
      listen: flags.metricsListen,
      registry,
      log,
      ...(same ? { healthz, readyz } : {}),
    }),
  ];
  if (!same) {
    servers.push(await startHttpServer({ listen: flags.healthListen, healthz, readyz, log }));
  }
  // Sidecar injection (--webhook-listen); served by every replica, leader or not.
  const webhook = flags.webhookListen
    ? await startWebhookFromFlags(flags, {
        kube,
        log,
        namespace: podNamespace(),
      })
    : undefined;
  shutdown = onShutdown(
    async () => {
      await controller.stop();
      await webhook?.stop();
      await kube.close();
      await Promise.all(servers.map((s) => s.close()));
      log.flush();
    },
    { log },
  );
  log.info(
    {
      server: access.server.origin,
      credentials: access.source,
      namespaces: flags.namespace.length ? flags.namespace : 'all',
      labelSelector: flags.labelSelector,
      // A namespaced install (--namespace) reconciles no ClusterEmailSender.
      clusterResourceNamespace: flags.namespace.length
        ? undefined
        : (flags.clusterResourceNamespace ?? podNamespace()),
      leaderElection: flags.leaderElect,
      metrics: servers[0]?.url,
      health: servers.at(-1)?.url,
    },
    'controller starting',
  );
  await controller.start();
}

/** Adds `controller` to the program. */
export function registerControllerCommand(program: Command): void {
  const command = program
    .command('controller')
    .description('Run the EmailSender controller: probe SMTP servers, report status, publish configs')
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: KUBECONFIG, else in-cluster, else ~/.kube/config)',
    )
    .option(
      '--namespace <ns>',
      'watch only this namespace (repeatable or comma-separated; default: all)',
      namespaces,
      [],
    )
    .option('--label-selector <selector>', 'only EmailSenders with these labels (sharding), e.g. shard=a')
    .option('--leader-elect', 'campaign for a Lease before working (for more than one replica)', false)
    .option(
      '--lease-namespace <ns>',
      "namespace of the Lease (default: POD_NAMESPACE, else the pod's namespace)",
    )
    .option('--lease-name <name>', 'name of the Lease', 'mailroom-controller')
    .option(
      '--leader-elect-lease-duration <duration>',
      'how long standbys wait after the last renewal they saw before taking the Lease',
      duration,
      15_000,
    )
    .option(
      '--leader-elect-renew-deadline <duration>',
      'the leader stops working when no renewal succeeded for this long (must be under the lease duration)',
      duration,
      10_000,
    )
    .option('--leader-elect-retry-period <duration>', 'time between Lease attempts', duration, 2_000)
    .option('--metrics-listen <addr>', 'address for /metrics', ':8080')
    .option('--health-listen <addr>', 'address for /healthz and /readyz', ':8081')
    .option('--concurrency <n>', 'reconciles at once', positiveInt, 16)
    .option(
      '--dns-server <host:port>',
      'DNS server for the Deliverable checks (repeatable); default: the system resolver',
      collect,
      [],
    )
    .option('--no-deliverability', 'do not check SPF, DKIM and DMARC (no Deliverable condition)')
    .option(
      '--cluster-resource-namespace <ns>',
      "namespace of ClusterEmailSenders' Secrets (default: POD_NAMESPACE, else the pod's); no other namespace is read for them",
    )
    .option('--log-level <level>', 'trace, debug, info, warn, error', process.env.LOG_LEVEL ?? 'info')
    .action(async (flags: ControllerFlags) => {
      await runController(flags);
    });
  addWebhookOptions(command);
}
