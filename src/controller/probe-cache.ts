/**
 * Shares probe results between EmailSenders that point at the same server with the same credentials
 * and options: one probe answers all of them inside one interval. A probe still running is always
 * shared; a finished one is reused while younger than the asker's `maxAgeMs` (success) or
 * `failureMaxAgeMs` (failure: short, so a server that comes back is seen soon).
 *
 * A login the server rejected (a 5xx to AUTH) is held apart, by credentials alone: no probe with
 * those credentials, whatever its other options and whichever sender asks, logs in again before
 * the asker's `rejectedLoginMaxAgeMs` (its probe interval), unless a Secret the credentials came
 * from changed since. Retrying a wrong password on a backoff of seconds is what makes providers
 * lock the account that the running sidecars still use.
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

/** A rejected login: when, the result, and the version of each Secret the credentials came from. */
interface Rejection {
  at: number;
  result: ProbeResult;
  sources: Map<string, string>;
}

/** True for a login the server refused for good (5xx to AUTH), as opposed to a temporary 4xx. */
export function isRejectedLogin(result: ProbeResult): boolean {
  return !result.ok && result.reason === 'AuthenticationFailed' && (result.replyCode ?? 0) >= 500;
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
  /** {@link credentialsKey} of the probe: a rejected login is held for every probe with them. */
  credentials?: string;
  /** Reuse a rejected login (see {@link isRejectedLogin}) younger than this. Default 0. */
  rejectedLoginMaxAgeMs?: number;
  /**
   * Where the credentials came from: Secret `namespace/name` → resourceVersion. A Secret that
   * changed since the login was rejected lifts the hold; a Secret not seen before (another sender
   * with the same credentials) shares it.
   */
  sources?: Readonly<Record<string, string>>;
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

/** The key of the credentials alone (server, user, password): what a provider locks. */
export function credentialsKey(endpoint: SmtpEndpoint): string | undefined {
  if (endpoint.password === undefined) return undefined;
  const material = JSON.stringify([
    endpoint.host,
    endpoint.port,
    endpoint.username ?? null,
    endpoint.password,
  ]);
  return createHash('sha256').update(material).digest('hex');
}

/** A shared, time-bounded cache of probe results. */
export class ProbeCache {
  readonly #entries = new Map<string, Entry>();
  readonly #rejections = new Map<string, Rejection>();
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
    const held = this.#held(now, reuse);
    if (held && held !== 'changed') return held;
    const entry = this.#entries.get(key);
    if (entry) {
      if (!entry.result) {
        const result = await entry.promise;
        return { result, shared: true, at: new Date(entry.at) };
      }
      const maxAge = entry.result.ok ? reuse.maxAgeMs : (reuse.failureMaxAgeMs ?? 2000);
      // A changed Secret is a new question: a result from before it is no answer.
      if (!reuse.force && held !== 'changed' && now - entry.at < maxAge) {
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
    if (reuse.credentials) {
      if (isRejectedLogin(result)) {
        const sources = new Map(Object.entries(reuse.sources ?? {}));
        this.#rejections.set(reuse.credentials, { at: fresh.at, result, sources });
      } else if (result.ok) this.#rejections.delete(reuse.credentials);
    }
    return { result, shared: false, at: new Date(fresh.at) };
  }

  /**
   * The rejected login that holds for `reuse.credentials`; undefined when there is none or it is
   * too old; `changed` when a Secret it came from changed since (which lifts the hold).
   */
  #held(now: number, reuse: ReuseOptions): SharedResult | 'changed' | undefined {
    const rejection = reuse.credentials && this.#rejections.get(reuse.credentials);
    if (!rejection || reuse.force || now - rejection.at >= (reuse.rejectedLoginMaxAgeMs ?? 0))
      return undefined;
    const sources = Object.entries(reuse.sources ?? {});
    if (sources.some(([name, version]) => (rejection.sources.get(name) ?? version) !== version)) {
      return 'changed';
    }
    for (const [name, version] of sources) rejection.sources.set(name, version);
    return { result: rejection.result, shared: true, at: new Date(rejection.at) };
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.result && now - entry.at > 24 * 3_600_000) this.#entries.delete(key);
    }
    for (const [key, rejection] of this.#rejections) {
      if (now - rejection.at > 24 * 3_600_000) this.#rejections.delete(key);
    }
  }
}
