/**
 * Shares probe results between EmailSenders that point at the same server with the same credentials
 * and options: one probe answers all of them inside one interval. A probe still running is always
 * shared; a finished one is reused while younger than the asker's `maxAgeMs` (success) or
 * `failureMaxAgeMs` (failure: short, so a server that comes back is seen soon).
 *
 * Keys are SHA-256 digests, so the cache holds no password in clear as a map key.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { ProbeOptions as SmtpProbeOptions } from '../smtp/probe.ts';
import type { ProbeResult } from '../smtp/probe-result.ts';
import type { SmtpEndpoint } from '../smtp/uri.ts';
import type { Clock } from './conditions.ts';

/** Options the controller passes to the probe (a subset of the probe module's). */
export type ProbeOptions = Pick<
  SmtpProbeOptions,
  'localName' | 'timeoutMs' | 'authenticate' | 'checkSender' | 'from' | 'ca' | 'signal'
>;

/** The SMTP probe: never rejects; every failure is a {@link ProbeResult} with a reason. */
export type ProbeFn = (endpoint: SmtpEndpoint, opts?: ProbeOptions) => Promise<ProbeResult>;

interface Entry {
  at: number;
  promise: Promise<ProbeResult>;
  result?: ProbeResult;
}

/** A result and where it came from. */
export interface SharedResult {
  result: ProbeResult;
  /** Answered by a probe another sender started or made. */
  shared: boolean;
  /** When the probe finished: the same for every sender that shares it. */
  at: Date;
}

/** How a caller may reuse a result. */
export interface ReuseOptions {
  /** Reuse a successful result younger than this. */
  maxAgeMs: number;
  /** Reuse a failed result younger than this. Default 2 s. */
  failureMaxAgeMs?: number;
  /** Never reuse a finished result (a reconcile was requested). In-flight probes are still shared. */
  force?: boolean;
}

/** The cache key of a probe: everything that can change its outcome. */
export function probeKey(endpoint: SmtpEndpoint, opts: ProbeOptions): string {
  const material = JSON.stringify([
    endpoint.scheme,
    endpoint.host,
    endpoint.port,
    endpoint.security,
    endpoint.serverName ?? null,
    endpoint.username ?? null,
    endpoint.password ?? null,
    opts.localName ?? null,
    opts.timeoutMs ?? null,
    opts.authenticate ?? true,
    opts.checkSender ? (opts.from ?? null) : null,
    opts.ca ?? null,
  ]);
  return createHash('sha256').update(material).digest('hex');
}

/** A shared, time-bounded cache of probe results. */
export class ProbeCache {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;
  #calls = 0;
  /** Probes actually run (not answered from the cache). */
  probesRun = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * The result for `key`: shared when possible, else from `run()`. `shared` tells which.
   *
   * @example
   * const { result, shared } = await cache.get(probeKey(ep, opts), { maxAgeMs: 300_000 }, () => probe(ep, opts));
   */
  async get(key: string, reuse: ReuseOptions, run: () => Promise<ProbeResult>): Promise<SharedResult> {
    const now = this.#clock.now().getTime();
    if (++this.#calls % 256 === 0) this.#sweep(now);
    const entry = this.#entries.get(key);
    if (entry) {
      if (!entry.result) {
        const result = await entry.promise;
        return { result, shared: true, at: new Date(entry.at) };
      }
      const maxAge = entry.result.ok ? reuse.maxAgeMs : (reuse.failureMaxAgeMs ?? 2000);
      if (!reuse.force && now - entry.at < maxAge) {
        return { result: entry.result, shared: true, at: new Date(entry.at) };
      }
    }
    this.probesRun++;
    const fresh: Entry = { at: now, promise: run() };
    this.#entries.set(key, fresh);
    let result: ProbeResult;
    try {
      result = await fresh.promise;
    } catch (err) {
      // The probe contract says it never rejects; if one does, do not poison the key.
      if (this.#entries.get(key) === fresh) this.#entries.delete(key);
      throw err;
    }
    fresh.result = result;
    // The interval is counted from the end of the probe: a 10 s timeout must not eat the interval.
    fresh.at = this.#clock.now().getTime();
    return { result, shared: false, at: new Date(fresh.at) };
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.result && now - entry.at > 24 * 3_600_000) this.#entries.delete(key);
    }
  }
}
