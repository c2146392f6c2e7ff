/**
 * The sidecar's Prometheus metrics, on a registry of its own (so two sidecars in one test process do
 * not collide). Labels hold states, doors and reasons, never an address, a subject or a credential.
 *
 * @module
 */

import { createRegistry, type Registry } from '../runtime/metrics.ts';
import { Counter, Gauge, Histogram } from '../runtime/prom-client.ts';
import type { ByteBudget } from './budget.ts';
import type { MessageState } from './types.ts';

/** The metric handles the sidecar updates. */
export interface SidecarMetrics {
  registry: Registry;
  accepted: Counter<'door'>;
  rejected: Counter<'door' | 'reason'>;
  attempts: Counter<'result'>;
  attemptDuration: Histogram<'result'>;
  configReloads: Counter<'result'>;
  configInfo: Gauge<'revision' | 'security'>;
  commits: Counter;
  queueCorrupt: Counter;
  refusedBusy: Counter<'door' | 'reason'>;
}

/** What the gauges read at scrape time besides the queue counts. */
export interface MetricSources {
  diskUsed?: () => number;
  /** The queue's quota on disk (--max-queue-bytes), so alerts can say "nearly full". */
  maxQueueBytes?: number;
  /** When the oldest message still to deliver was accepted (ms since the epoch). */
  oldestWaitingAt?: () => number | undefined;
  budgets?: Record<string, ByteBudget>;
  /** Queue transactions committed since the process started (every queue file it opened). */
  commits?: () => number;
}

/**
 * Creates the metrics. `queueCounts` is read at scrape time for the `mailroom_sidecar_messages`
 * gauge, so the numbers are the queue's own and survive restarts.
 */
export function createMetrics(
  queueCounts: () => Record<MessageState, number>,
  sources: MetricSources = {},
): SidecarMetrics {
  const registry = createRegistry({ prefix: 'mailroom_sidecar_' });
  let counted = 0;
  new Gauge({
    name: 'mailroom_sidecar_queue_bytes',
    help: 'Bytes the queue holds on disk (database pages in use plus WAL), counted against --max-queue-bytes.',
    registers: [registry],
    collect() {
      if (sources.diskUsed) this.set(sources.diskUsed());
    },
  });
  new Gauge({
    name: 'mailroom_sidecar_queue_limit_bytes',
    help: 'The queue quota on disk (--max-queue-bytes): mailroom_sidecar_queue_bytes over this is how full it is.',
    registers: [registry],
    collect() {
      if (sources.maxQueueBytes !== undefined) this.set(sources.maxQueueBytes);
    },
  });
  new Gauge({
    name: 'mailroom_sidecar_oldest_message_age_seconds',
    help: 'Age of the oldest message not yet sent or abandoned (queued, deferred or sending); 0 when none waits.',
    registers: [registry],
    collect() {
      const at = sources.oldestWaitingAt?.();
      this.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
    },
  });
  new Gauge({
    name: 'mailroom_sidecar_in_flight_bytes',
    help: 'Bytes of messages held in memory, by budget (accept, send), counted against --max-in-flight-bytes.',
    labelNames: ['budget'],
    registers: [registry],
    collect() {
      for (const [budget, b] of Object.entries(sources.budgets ?? {})) this.set({ budget }, b.used);
    },
  });
  new Gauge({
    name: 'mailroom_sidecar_messages',
    help: 'Messages in the queue by state (sent and abandoned until retention removes them).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(queueCounts())) this.set({ state }, n);
    },
  });
  return {
    registry,
    accepted: new Counter({
      name: 'mailroom_sidecar_messages_accepted_total',
      help: 'Messages durably queued, by front door.',
      labelNames: ['door'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'mailroom_sidecar_messages_rejected_total',
      help: 'Messages refused at a front door, by reason (HeaderInjection, MessageTooLarge, InvalidMessage).',
      labelNames: ['door', 'reason'],
      registers: [registry],
    }),
    attempts: new Counter({
      name: 'mailroom_sidecar_delivery_attempts_total',
      help: 'Delivery attempts by result (sent, deferred, abandoned).',
      labelNames: ['result'],
      registers: [registry],
    }),
    attemptDuration: new Histogram({
      name: 'mailroom_sidecar_delivery_attempt_duration_seconds',
      help: 'Duration of one delivery attempt to the upstream server.',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'mailroom_sidecar_config_reloads_total',
      help: 'Config files read, by result (applied, refused).',
      labelNames: ['result'],
      registers: [registry],
    }),
    configInfo: new Gauge({
      name: 'mailroom_sidecar_config_info',
      help: 'The config in use: 1 for its revision and security mode.',
      labelNames: ['revision', 'security'],
      registers: [registry],
    }),
    queueCorrupt: new Counter({
      name: 'mailroom_sidecar_queue_corrupt_total',
      help: 'Queue files found corrupt or unreadable (at start or while running), moved aside for a fresh queue.',
      registers: [registry],
    }),
    refusedBusy: new Counter({
      name: 'mailroom_sidecar_messages_deferred_at_door_total',
      help: 'Messages answered "try later" at a front door, by reason (MemoryBudget, QueueFull, DiskFull).',
      labelNames: ['door', 'reason'],
      registers: [registry],
    }),
    commits: new Counter({
      name: 'mailroom_sidecar_queue_commits_total',
      help: 'Queue transactions committed (each holds a batch of writes).',
      registers: [registry],
      // Read from the queue at scrape time: nothing per commit, and every commit counted, those
      // of start-up recovery included.
      collect() {
        const n = sources.commits?.() ?? 0;
        if (n > counted) this.inc(n - counted);
        counted = n;
      },
    }),
  };
}
