/**
 * The EmailSender controller: informers feed keys into the work queue, workers run the reconciler,
 * and one `switch` maps each outcome to the queue (forget, timed requeue, backoff).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { EmailSender } from '../api/emailsender.ts';
import type { KubeContext } from '../kube/context.ts';
import { type Informer, informerChecks } from '../kube/informer.ts';
import { LeaderElector } from '../kube/leader.ts';
import { WorkQueue } from '../kube/queue.ts';
import { ExponentialRateLimiter, jittered, type RateLimiter } from '../kube/rate-limiter.ts';
import { SECRETS } from '../kube/secrets.ts';
import { METADATA_ONLY } from '../kube/transforms.ts';
import type { Check } from '../runtime/health.ts';
import type { Logger } from '../runtime/logger.ts';
import { createRegistry, type Registry } from '../runtime/metrics.ts';
import { defaultLocalName } from '../smtp/probe.ts';
import { ClusterSenders } from './cluster-senders.ts';
import { type Clock, systemClock } from './conditions.ts';
import { RequeueError, TerminalError } from './errors.ts';
import { fenceWrites, NotLeaderError } from './fence.ts';
import { senderKey } from './keys.ts';
import { clusterEmailSenders } from './kinds.ts';
import {
  CONTROLLER_NAME,
  controllerUid,
  PUBLISHED_AT_ANNOTATION,
  REVISION_ANNOTATION,
  RestKubeClient,
  SENDERS,
  type SecretMeta,
  secretTransform,
  senderRef,
  senderTransform,
} from './kube.ts';
import { type ControllerMetrics, countSenders, createControllerMetrics } from './metrics.ts';
import { ProbeCache } from './probe-cache.ts';
import { configSecretNeedsReconcile, SecretIndex } from './secret-index.ts';
import { createReconciler, type ReconcilerDeps, senderChangeNeedsReconcile } from './sync.ts';
import type { ProbeFn, ReconcileResult, StepDeps } from './types.ts';

/** Longest backoff after an API error (the rate limiter's own cap). */
const MAX_API_BACKOFF_MS = 300_000;

/** Options of {@link Controller}. */
export interface ControllerOptions {
  /** The process's client layer (see `connectKube`); shared with the webhook when it runs too. */
  kube: KubeContext;
  probe: ProbeFn;
  log: Logger;
  /** Namespaces to watch; empty: all. */
  namespaces?: readonly string[];
  /** Only EmailSenders with these labels (sharding). */
  labelSelector?: string;
  /** Reconciles at once. Default 16. */
  concurrency?: number;
  registry?: Registry;
  /** Campaign for this Lease before working; absent: work at once. */
  leaderElection?: {
    namespace: string;
    name?: string;
    identity?: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  /** Called when leadership is lost; the process should exit (a successor takes over). */
  onLeadershipLost?: () => void;
  rateLimiter?: RateLimiter;
  clock?: Clock;
  /** EHLO name when a spec gives none. Default: the host name. */
  localName?: string;
  progressDelayMs?: number;
  /** A watch silent this long is restarted. Default 150 s. */
  watchIdleTimeoutMs?: number;
  /** SPF/DKIM/DMARC checks for the Deliverable condition; absent: not checked. */
  checkDeliverability?: StepDeps['checkDeliverability'];
  /**
   * Where ClusterEmailSenders' Secrets live. Absent, or with `namespaces` set (a namespaced
   * install): ClusterEmailSenders are not reconciled.
   */
  clusterResourceNamespace?: string;
}

/** A running EmailSender controller. */
export class Controller {
  readonly identity: string;
  readonly metrics: ControllerMetrics;
  readonly registry: Registry;
  readonly queue: WorkQueue;
  readonly senders: Informer<EmailSender>;
  readonly secrets: Informer<SecretMeta>;
  /** ClusterEmailSenders and what decides where their config goes; absent when they are off. */
  readonly cluster?: ClusterSenders;
  readonly #o: ControllerOptions;
  readonly #kube: KubeContext;
  readonly #index = new SecretIndex();
  readonly #elector?: LeaderElector;
  readonly #workers: Promise<void>[] = [];
  readonly #reconcile: (key: string) => Promise<ReconcileResult>;
  readonly #reconcileCluster?: (key: string) => Promise<ReconcileResult>;
  #stopped = false;
  /** Workers run and writes pass (the fence): set when leading (or without election), cleared at once when leadership is lost. */
  #acting = false;
  #gauges?: NodeJS.Timeout;

  constructor(opts: ControllerOptions) {
    this.#o = opts;
    this.identity = opts.leaderElection?.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.registry = opts.registry ?? createRegistry();
    this.metrics = createControllerMetrics(this.registry);
    this.#kube = opts.kube;
    // Every requeue is jittered, failures included: senders that fail together must not retry
    // (and log in) together. The limiter spreads each backoff by up to +10%; the caps are spread
    // by ±10% where the queue adds them (`#work`).
    this.queue = new WorkQueue({
      rateLimiter: opts.rateLimiter ?? new ExponentialRateLimiter({ jitter: 0.1 }),
    });
    const log = opts.log;
    const informer = {
      namespaces: opts.namespaces ?? [],
      ...(opts.watchIdleTimeoutMs !== undefined ? { idleTimeoutMs: opts.watchIdleTimeoutMs } : {}),
    };
    this.senders = opts.kube.informer<EmailSender>({
      ...informer,
      resource: SENDERS,
      transform: senderTransform,
      ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
    });
    this.secrets = opts.kube.informer<SecretMeta>({
      ...informer,
      resource: SECRETS,
      accept: METADATA_ONLY,
      transform: secretTransform,
    });
    if (opts.clusterResourceNamespace && !opts.namespaces?.length)
      this.cluster = new ClusterSenders({
        // The process's informers: shared with the webhook where it watches the same thing.
        informer: (o) =>
          opts.kube.informer({
            ...o,
            ...(opts.watchIdleTimeoutMs !== undefined ? { idleTimeoutMs: opts.watchIdleTimeoutMs } : {}),
          }),
        clusterResourceNamespace: opts.clusterResourceNamespace,
        queue: this.queue,
        index: this.#index,
        secrets: this.secrets,
        ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
      });
    const rest = new RestKubeClient(opts.kube.rest, {
      secretVersion: (ns, name) => this.secrets.get(ns, name)?.metadata.resourceVersion,
    });
    const clock = opts.clock ?? systemClock;
    // A replica that lost the Lease writes nothing more, not even what its in-flight reconciles
    // were about to write: status, config Secrets and Events all pass the fence.
    const kube = fenceWrites(rest, () => this.#acting);
    const fence = (): void => {
      if (!this.#acting) throw new NotLeaderError('event');
    };
    const m = this.metrics;
    const probe: ProbeFn = async (endpoint, o) => {
      const result = await opts.probe(endpoint, o);
      m.probes.inc({ reason: result.reason });
      m.probeDuration.observe({ reason: result.reason }, result.durationMs / 1000);
      return result;
    };
    const deps: ReconcilerDeps = {
      kube,
      probe,
      probeCache: new ProbeCache(clock),
      clock,
      localName: opts.localName ?? defaultLocalName(),
      secretVersion: (ns, name) => this.secrets.get(ns, name)?.metadata.resourceVersion,
      published: (ns, name, ownerUid) => {
        const secret = this.secrets.get(ns, name);
        if (controllerUid(secret) !== ownerUid) return undefined;
        const a = secret?.metadata.annotations;
        const revision = a?.[REVISION_ANNOTATION];
        return revision
          ? { secretName: name, revision, publishedAt: a?.[PUBLISHED_AT_ANNOTATION] ?? '' }
          : undefined;
      },
      getSender: (ns, name) => (ns ? this.senders.get(ns, name) : this.cluster?.senders.get('', name)),
      recordEvent: (s, note) => {
        log.info({ sender: senderKey(s), kind: s.kind, reason: note.reason, note: note.note }, 'event');
        // The process's recorder (shared with the webhook), fenced at send time like every write.
        opts.kube.events.record(CONTROLLER_NAME, senderRef(s), note, { fence });
      },
      log,
      observer: {
        outcome: (reason) => m.reconciles.inc({ result: reason }),
        statusWrite: () => m.statusWrites.inc(),
        probe: (_reason, _ms, shared) => shared && m.probesShared.inc(),
      },
      ...(opts.progressDelayMs !== undefined ? { progressDelayMs: opts.progressDelayMs } : {}),
      ...(opts.checkDeliverability ? { checkDeliverability: opts.checkDeliverability } : {}),
      ...(this.cluster ? { cluster: this.cluster.deps } : {}),
    };
    this.#reconcile = createReconciler(deps);
    if (opts.clusterResourceNamespace && this.cluster)
      this.#reconcileCluster = createReconciler(deps, clusterEmailSenders(opts.clusterResourceNamespace));
    if (opts.leaderElection) {
      this.#elector = new LeaderElector({
        rest: opts.kube.rest,
        log,
        namespace: opts.leaderElection.namespace,
        name: opts.leaderElection.name ?? 'mailroom-controller',
        identity: this.identity,
        leaseDurationMs: opts.leaderElection.leaseDurationMs,
        renewDeadlineMs: opts.leaderElection.renewDeadlineMs,
        retryPeriodMs: opts.leaderElection.retryPeriodMs,
      });
    }
    this.#wire();
  }

  #wire(): void {
    const q = this.queue;
    this.senders.onChange((type, s, old) => {
      const key = `${s.metadata.namespace}/${s.metadata.name}`;
      if (type === 'delete') {
        this.#index.delete(key);
        q.remove(key);
        return;
      }
      this.#index.set(s, s.metadata.namespace, key);
      if (senderChangeNeedsReconcile(type, s, old)) q.add(key);
    });
    this.secrets.onChange((type, secret) => {
      const { namespace = '', name } = secret.metadata;
      for (const key of this.#index.sendersOf(namespace, name)) q.add(key);
      // A sender's config Secret: deleted, it is published again; foreign, it blocks or frees the way.
      const owner = this.#index.configOwner(namespace, name);
      const sender = owner && this.senders.get(namespace, owner.slice(namespace.length + 1));
      if (owner && sender && configSecretNeedsReconcile(type, secret, sender)) q.add(owner);
      this.cluster?.onSecret(type, secret);
    });
  }

  /** Health checks: `/healthz` fails when a watch has been silent too long (a stuck informer). */
  get checks(): { healthz: Check[]; readyz: Check[] } {
    const silentLimitMs = 2 * (this.#o.watchIdleTimeoutMs ?? 150_000) + 60_000;
    const all = [this.senders, this.secrets, ...(this.cluster?.informers ?? [])].map((i) =>
      informerChecks(i, silentLimitMs),
    );
    return { healthz: all.map((c) => c.alive), readyz: all.map((c) => c.synced) };
  }

  /** Starts informers, waits for their first list, then (after winning the lease) the workers. */
  async start(): Promise<void> {
    this.#gauges = setInterval(() => this.#refreshGauges(), 1000);
    this.#gauges.unref();
    // Copies and consumers are known before any ClusterEmailSender is reconciled.
    await Promise.all([this.secrets.start(), this.senders.start(), this.cluster?.start()]);
    this.#o.log.info({ emailsenders: this.senders.size, secrets: this.secrets.size }, 'caches synced');
    if (!this.#elector) {
      this.#startWorkers();
      return;
    }
    void this.#elector.run(
      () => this.#startWorkers(),
      () => {
        // At once, before the lease can expire for the others: no more writes, no more keys.
        this.#acting = false;
        this.metrics.leader.set(0);
        void this.queue.shutDown();
        this.#o.log.error({ identity: this.identity }, 'workers stopped: leadership lost');
        this.#o.onLeadershipLost?.();
      },
    );
  }

  #refreshGauges(): void {
    this.metrics.queueDepth.set(this.queue.length);
    this.metrics.cachedObjects.set({ resource: 'emailsenders' }, this.senders.size);
    this.metrics.cachedObjects.set({ resource: 'secrets' }, this.secrets.size);
    this.metrics.eventsDropped.set(this.#kube.events.dropped);
    countSenders(this.metrics.senders, this.senders.list());
  }

  #startWorkers(): void {
    if (this.#stopped) return;
    this.#acting = true;
    this.metrics.leader.set(1);
    for (let i = 0; i < (this.#o.concurrency ?? 16); i++) this.#workers.push(this.#work());
    this.#o.log.info({ concurrency: this.#o.concurrency ?? 16, identity: this.identity }, 'workers started');
  }

  async #work(): Promise<void> {
    const { log } = this.#o;
    const m = this.metrics;
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      const end = m.reconcileDuration.startTimer();
      try {
        // A key without "/" is a ClusterEmailSender's (see keys.ts).
        const reconcile = key.includes('/') ? this.#reconcile : this.#reconcileCluster;
        if (!reconcile) continue;
        const result = await reconcile(key);
        this.queue.forget(key);
        if (result.requeueAfterMs) this.queue.addAfter(key, result.requeueAfterMs);
        // Work that outlived the reconcile (a slow DNS check) brings the key back when done.
        result.requeueWhen?.then((again) => again && this.queue.add(key));
      } catch (err) {
        if (!this.#acting) {
          // Leadership was lost mid-reconcile: the fence refused its writes; the successor redoes it.
          log.debug({ key, err }, 'reconcile abandoned: not the leader');
        } else if (err instanceof TerminalError) {
          m.reconcileErrors.inc({ kind: 'terminal' });
          this.queue.forget(key);
          log.error({ key, err }, 'reconcile failed for good');
        } else if (err instanceof RequeueError) {
          m.reconcileErrors.inc({ kind: 'probe' });
          m.queueRetries.inc();
          const delay = this.queue.addRateLimited(key, jittered(err.maxBackoffMs));
          log.debug({ key, reason: err.reason, retryInMs: delay }, 'probe failed; retrying');
        } else {
          m.reconcileErrors.inc({ kind: 'api' });
          m.queueRetries.inc();
          const delay = this.queue.addRateLimited(key, jittered(MAX_API_BACKOFF_MS));
          log.warn({ key, err, retryInMs: delay }, 'reconcile failed; retrying');
        }
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  /** Stops taking work, lets in-flight reconciles finish, flushes events, releases the lease. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#gauges);
    await this.queue.shutDown();
    await Promise.all(this.#workers);
    await Promise.all([this.senders, this.secrets, ...(this.cluster?.informers ?? [])].map((i) => i.stop()));
    await Promise.race([this.#kube.events.flush(), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.#elector?.release();
  }
}
