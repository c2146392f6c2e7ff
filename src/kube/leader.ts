/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` does it:
 * acquire when the lease is free or its holder has not renewed for `leaseDuration` (measured on our
 * own clock from when we saw its last change, never by comparing clocks), renew every
 * `retryPeriod`, and release on shutdown so a successor starts at once. Writes are guarded by
 * resourceVersion.
 *
 * The renew deadline is a deadline, not a check made when a request returns: every Lease request
 * is aborted when it would outlive it, and a watchdog ends the term `renewDeadline` after the last
 * renewal was *sent* — while a request may still hang — so the leader stops acting before anyone
 * else can see the lease expire (they wait `leaseDuration` from when they saw that renewal, which
 * is later). `renewDeadline < leaseDuration` leaves that margin.
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

/** Our own monotonic clock: intervals never depend on the wall clock (nor on anyone else's). */
const monotonic = () => performance.now();

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
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.#o;
    // client-go's rules: without them a leader could still act after others may take over.
    if (!(leaseDurationMs > renewDeadlineMs))
      throw new RangeError(
        `the lease duration (${leaseDurationMs} ms) must exceed the renew deadline (${renewDeadlineMs} ms)`,
      );
    if (!(renewDeadlineMs > 1.2 * retryPeriodMs))
      throw new RangeError(
        `the renew deadline (${renewDeadlineMs} ms) must exceed 1.2 × the retry period (${retryPeriodMs} ms)`,
      );
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  #path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
    return name ? `${base}/${encodeURIComponent(name)}` : base;
  }

  /**
   * One attempt to acquire or renew; true when we hold the lease afterwards. Its requests are
   * aborted by `signal` (the renew deadline).
   */
  async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const { rest, name, namespace, identity } = this.#o;
    const bounded = signal ? { signal } : {};
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
      lease = await rest.request<Lease>('GET', this.#path(name), bounded);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await rest.request('POST', this.#path(), {
          ...bounded,
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
    if (!this.#observed || this.#observed.rv !== rv) this.#observed = { rv, at: monotonic() };
    const duration = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== identity && monotonic() - this.#observed.at < duration) return false;
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
      const updated = await rest.request<Lease>('PUT', this.#path(name), { ...bounded, body: next });
      this.#observed = { rv: updated.metadata.resourceVersion, at: monotonic() };
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** Sleeps `ms`, or less when the elector is released or `also` aborts. */
  #sleep(ms: number, also?: AbortSignal): Promise<void> {
    const signal = also ? AbortSignal.any([this.#abort.signal, also]) : this.#abort.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', done);
        resolve();
      }, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** One attempt, its requests aborted at `deadline` (or when `term` ends); false on any error. */
  async #attempt(deadline: number, term?: AbortSignal): Promise<boolean> {
    const timeout = AbortSignal.timeout(Math.max(1, Math.round(deadline - monotonic())));
    try {
      return await this.tryAcquireOrRenew(term ? AbortSignal.any([timeout, term]) : timeout);
    } catch (err) {
      this.#o.log.warn({ err, lease: `${this.#o.namespace}/${this.#o.name}` }, 'lease request failed');
      return false;
    }
  }

  /**
   * Waits for leadership, calls `onStarted`, renews until leadership is lost (then `onStopped`, at
   * once) or {@link LeaderElector.release} is called. Resolves when it stops campaigning.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, log } = this.#o;
    const lease = `${this.#o.namespace}/${this.#o.name}`;
    let sent = monotonic();
    while (!this.#abort.signal.aborted) {
      sent = monotonic();
      if (await this.#attempt(sent + renewDeadlineMs)) break;
      await this.#sleep(retryPeriodMs * (1 + Math.random() * 0.2));
    }
    if (this.#abort.signal.aborted) return;
    this.#leader = true;
    log.info({ lease, identity: this.#o.identity }, 'became leader');
    onStarted();

    // The term ends `renewDeadline` after the last renewal was sent, whatever is in flight then.
    const term = new AbortController();
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (renewedAt: number) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => term.abort(), renewedAt + renewDeadlineMs - monotonic());
    };
    this.#abort.signal.addEventListener('abort', () => clearTimeout(watchdog), { once: true });
    term.signal.addEventListener('abort', () => {
      if (this.#abort.signal.aborted) return;
      this.#leader = false;
      log.error({ lease, renewDeadlineMs }, 'leadership lost: lease not renewed within the renew deadline');
      onStopped();
    });
    arm(sent);
    while (!this.#abort.signal.aborted && !term.signal.aborted) {
      await this.#sleep(retryPeriodMs, term.signal);
      if (this.#abort.signal.aborted || term.signal.aborted) break;
      const attemptAt = monotonic();
      if (await this.#attempt(sent + renewDeadlineMs, term.signal)) {
        if (term.signal.aborted) break; // answered, but after the term ended: too late to count
        sent = attemptAt;
        arm(sent);
      }
    }
    clearTimeout(watchdog);
  }

  /** Stops campaigning and, when leader, frees the lease so a successor takes over at once. */
  async release(): Promise<void> {
    this.#abort.abort();
    if (!this.#leader) return;
    this.#leader = false;
    // Bounded like every Lease request: a shutdown never waits on a silent API server.
    const signal = AbortSignal.timeout(this.#o.renewDeadlineMs);
    // A renewal sent just before the abort can still land between our read and our write: that
    // write then conflicts and is tried again on the newer Lease, or standbys would wait out a
    // whole lease duration.
    for (let tries = 0; ; tries++) {
      try {
        const lease = await this.#o.rest.request<Lease>('GET', this.#path(this.#o.name), { signal });
        if (lease.spec.holderIdentity !== this.#o.identity) return;
        await this.#o.rest.request('PUT', this.#path(this.#o.name), {
          signal,
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
        return;
      } catch (err) {
        if (isConflict(err) && tries < 5) continue;
        this.#o.log.warn({ err }, 'lease not released');
        return;
      }
    }
  }
}
