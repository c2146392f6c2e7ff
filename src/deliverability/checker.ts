/**
 * The deliverability check as the controller runs it: one caching resolver for all senders (DNS
 * answers kept by TTL), and one report per sender kept for part of its probe interval, so retries
 * and resyncs do not re-ask DNS, while a new generation or `reconcile.fluxcd.io/requestedAt` does.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { checkDeliverability, type DeliverabilityInput, type DeliverabilityReport } from './check.ts';
import { createDnsResolver, type DnsResolver, type DnsResolverOptions } from './resolver.ts';

/** What the controller asks: the check for one sender, reusing a recent report when allowed. */
export type DeliverabilityChecker = (
  senderKey: string,
  input: Omit<DeliverabilityInput, 'resolver' | 'now'>,
  opts: { maxAgeMs: number; force?: boolean },
) => Promise<DeliverabilityReport>;

/** Options for {@link createDeliverabilityChecker}. */
export interface CheckerOptions extends DnsResolverOptions {
  /** Clock for report ages (and report times). */
  clock?: { now(): Date };
  /** The resolver to ask instead of a caching one on `servers` (tests). */
  resolver?: DnsResolver;
}

/**
 * Creates the controller's checker. `servers` is `--dns-server` (default: the system resolver).
 *
 * @example
 * const check = createDeliverabilityChecker({ servers: ['10.96.0.10:53'] });
 * const report = await check('auth/identity', { from, serverHost }, { maxAgeMs: 300_000 });
 */
export function createDeliverabilityChecker(opts: CheckerOptions = {}): DeliverabilityChecker {
  const clock = opts.clock ?? { now: () => new Date() };
  const resolver =
    opts.resolver ?? createDnsResolver({ timeoutMs: 2000, ...opts, now: () => clock.now().getTime() });
  const reports = new Map<
    string,
    { fingerprint: string; at: number; report: Promise<DeliverabilityReport> }
  >();
  return async (senderKey, input, { maxAgeMs, force }) => {
    // The key is hashed, never kept: the cache must not become a second copy of a Secret.
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([input.from, input.serverHost, input.dkim ?? null]))
      .digest('hex');
    const now = clock.now().getTime();
    const hit = reports.get(senderKey);
    if (hit && !force && hit.fingerprint === fingerprint && now - hit.at < maxAgeMs) return hit.report;
    const report = checkDeliverability({ ...input, resolver, now: () => clock.now() });
    const entry = { fingerprint, at: now, report };
    reports.set(senderKey, entry);
    report.then(
      // A report's age counts from when it is done (as the probe cache's does), so the reconcile
      // that a slow check triggers when done reuses it rather than starting another.
      () => {
        entry.at = clock.now().getTime();
      },
      // A failed check (a key that cannot sign) is not kept: the next reconcile tries again.
      () => reports.get(senderKey) === entry && reports.delete(senderKey),
    );
    // Forget senders not checked for a day (deleted ones).
    for (const [k, v] of reports) if (now - v.at > 86_400_000) reports.delete(k);
    return report;
  };
}
