/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` does it:
 * acquire when the lease is free or its holder has not renewed for `leaseDuration` (measured on our
 * own clock from when we saw its last change, never by comparing clocks), renew every
 * `retryPeriod`, give up leadership when a renewal has not succeeded for `renewDeadline`, and
 * release on shutdown so a successor starts at once. Writes are guarded by resourceVersion.
 *
 * @module
 */
import type { Logger } from '../runtime/logger.ts';
import { isConflict, isNotFound, type KubeRest } from './rest.ts';

/** Options of {@link LeaderElector}. */
export interface LeaderElectionOptions {
  rest: KubeRest;
  namespace: string;
  name: string;
  /** Unique per candidate: the pod name plus a random suffix. */
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** MicroTime: RFC 3339 with microseconds, as Lease and Event times require. */
export const microTime = (d: Date) => d.toISOString().replace(/(\.\d{3})Z$/, '$1000Z');

/** Campaigns for a Lease and keeps it. */
export class LeaderElector {
  readonly #o: Required<LeaderElectionOptions>;
  readonly #abort = new AbortController();
  #observed?: { rv: string | undefined; at: number };
  #leader = false;

  constructor(opts: LeaderElectionOptions) {
    this.#o = {
      ...opts,
      leaseDurationMs: opts.leaseDurationMs ?? 15_000,
      renewDeadlineMs: opts.renewDeadlineMs ?? 10_000,
      retryPeriodMs: opts.retryPeriodMs ?? 2_000,
    };
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  #path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
    return name ? `${base}/${encodeURIComponent(name)}` : base;
  }

  /** One attempt to acquire or renew; true when we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { rest, name, namespace, identity } = this.#o;
    const now = new Date();
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let lease: Lease;
    try {
      lease = await rest.request<Lease>('GET', this.#path(name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await rest.request('POST', this.#path(), {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec },
        });
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const holder = lease.spec.holderIdentity ?? '';
    const rv = lease.metadata.resourceVersion;
    if (!this.#observed || this.#observed.rv !== rv) this.#observed = { rv, at: Date.now() };
    const duration = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== identity && Date.now() - this.#observed.at < duration) return false;
    const mine = holder === identity;
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: identity,
        leaseDurationSeconds: spec.leaseDurationSeconds,
        renewTime: spec.renewTime,
        acquireTime: mine ? (lease.spec.acquireTime ?? spec.acquireTime) : spec.acquireTime,
        leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (mine || !holder ? 0 : 1),
      },
    };
    try {
      const updated = await rest.request<Lease>('PUT', this.#path(name), { body: next });
      this.#observed = { rv: updated.metadata.resourceVersion, at: Date.now() };
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async #attempt(): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (err) {
      this.#o.log.warn({ err, lease: `${this.#o.namespace}/${this.#o.name}` }, 'lease request failed');
      return false;
    }
  }

  /**
   * Waits for leadership, calls `onStarted`, renews until leadership is lost (then `onStopped`) or
   * {@link LeaderElector.release} is called. Resolves when it stops campaigning.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, log } = this.#o;
    while (!this.#abort.signal.aborted && !(await this.#attempt())) {
      await this.#sleep(retryPeriodMs * (1 + Math.random() * 0.2));
    }
    if (this.#abort.signal.aborted) return;
    this.#leader = true;
    log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'became leader');
    onStarted();
    let lastRenew = Date.now();
    while (!this.#abort.signal.aborted) {
      await this.#sleep(retryPeriodMs);
      if (this.#abort.signal.aborted) break;
      if (await this.#attempt()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > renewDeadlineMs) {
        this.#leader = false;
        log.error(
          { lease: `${this.#o.namespace}/${this.#o.name}` },
          'leadership lost: lease not renewed in time',
        );
        onStopped();
        return;
      }
    }
  }

  /** Stops campaigning and, when leader, frees the lease so a successor takes over at once. */
  async release(): Promise<void> {
    this.#abort.abort();
    if (!this.#leader) return;
    this.#leader = false;
    try {
      const lease = await this.#o.rest.request<Lease>('GET', this.#path(this.#o.name));
      if (lease.spec.holderIdentity !== this.#o.identity) return;
      await this.#o.rest.request('PUT', this.#path(this.#o.name), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: null,
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date()),
          },
        },
      });
    } catch (err) {
      this.#o.log.warn({ err }, 'lease not released');
    }
  }
}
