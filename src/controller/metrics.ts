/**
 * The controller's Prometheus metrics. Names follow the Prometheus conventions (`_total` counters,
 * `_seconds` histograms); labels are reasons from the closed set, never names or secrets, so
 * cardinality stays bounded whatever the number of EmailSenders.
 *
 * @module
 */

import type { Registry } from '../runtime/metrics.ts';
import { Counter, Gauge, Histogram } from '../runtime/prom-client.ts';

/** The metrics one controller updates. */
export interface ControllerMetrics {
  reconciles: Counter<'result'>;
  reconcileErrors: Counter<'kind'>;
  reconcileDuration: Histogram;
  probes: Counter<'reason'>;
  probeDuration: Histogram<'reason'>;
  probesShared: Counter;
  statusWrites: Counter;
  eventsDropped: Gauge;
  queueDepth: Gauge;
  queueRetries: Counter;
  leader: Gauge;
  cachedObjects: Gauge<'resource'>;
  senders: Gauge<'condition' | 'status' | 'reason'>;
}

/** The part of a sender's status the `mailroom_senders` gauge reads. */
interface SenderConditions {
  status?: { conditions?: readonly { type: string; status: string; reason?: string }[] };
}

/**
 * Sets `mailroom_senders` from the cached senders: how many carry each (condition, status, reason).
 * A sender the controller has not written yet counts as Ready/Unknown/NotObserved, so a sender that
 * never gets a status still shows in "not Ready" alerts. Names stay out: the label values come from
 * closed sets, so the series are bounded whatever the number of senders.
 */
export function countSenders(
  gauge: Gauge<'condition' | 'status' | 'reason'>,
  senders: Iterable<SenderConditions>,
): void {
  const counts = new Map<string, number>();
  for (const s of senders) {
    const conditions = s.status?.conditions ?? [];
    if (!conditions.some((c) => c.type === 'Ready')) {
      const key = 'Ready\0Unknown\0NotObserved';
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const c of conditions) {
      const key = `${c.type}\0${c.status}\0${c.reason ?? ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  gauge.reset();
  for (const [key, n] of counts) {
    const [condition, status, reason] = key.split('\0') as [string, string, string];
    gauge.set({ condition, status, reason }, n);
  }
}

/** Registers the controller metrics on `registry`. */
export function createControllerMetrics(registry: Registry): ControllerMetrics {
  const registers = [registry];
  return {
    reconciles: new Counter({
      name: 'mailroom_controller_reconciles_total',
      help: 'Reconciles by result (the Ready reason, or Error for API failures).',
      labelNames: ['result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'mailroom_controller_reconcile_errors_total',
      help: 'Reconciles that ended in a requeue with backoff, by kind (probe, api, terminal).',
      labelNames: ['kind'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: 'mailroom_controller_reconcile_duration_seconds',
      help: 'Time of one reconcile, probe included.',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    probes: new Counter({
      name: 'mailroom_probes_total',
      help: 'SMTP probes actually made (shared results not counted), by result reason.',
      labelNames: ['reason'],
      registers,
    }),
    probeDuration: new Histogram({
      name: 'mailroom_probe_duration_seconds',
      help: 'Duration of SMTP probes, by result reason.',
      labelNames: ['reason'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    probesShared: new Counter({
      name: 'mailroom_probes_shared_total',
      help: 'Reconciles answered by a probe result shared with other senders.',
      registers,
    }),
    statusWrites: new Counter({
      name: 'mailroom_controller_status_writes_total',
      help: 'EmailSender status updates written (only when the status changed).',
      registers,
    }),
    eventsDropped: new Gauge({
      name: 'mailroom_controller_events_dropped',
      help: 'Events dropped because the event backlog was full.',
      registers,
    }),
    queueDepth: new Gauge({
      name: 'mailroom_controller_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      registers,
    }),
    queueRetries: new Counter({
      name: 'mailroom_controller_workqueue_retries_total',
      help: 'Keys requeued with backoff.',
      registers,
    }),
    leader: new Gauge({
      name: 'mailroom_controller_leader',
      help: '1 while this instance holds the leader lease (or runs without leader election).',
      registers,
    }),
    senders: new Gauge({
      name: 'mailroom_senders',
      help: 'EmailSenders by condition (Ready, Stalled, CertificateExpiringSoon, …), status and reason.',
      labelNames: ['condition', 'status', 'reason'],
      registers,
    }),
    cachedObjects: new Gauge({
      name: 'mailroom_controller_cached_objects',
      help: 'Objects in the informer caches, by resource.',
      labelNames: ['resource'],
      registers,
    }),
  };
}
