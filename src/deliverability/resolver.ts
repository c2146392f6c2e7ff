/**
 * The DNS resolver the deliverability checks ask: mailauth's resolver signature
 * (`(name, rrtype) => Promise<answers>`) on top of `node:dns`'s `Resolver`, pointed at chosen servers
 * (`--dns-server host:port`, which is how tests keep every packet on loopback) or the system's, with
 * a cache so a check repeated on every probe interval does not re-ask DNS for answers still fresh.
 *
 * @module
 */
import { type RecordWithTtl, Resolver } from 'node:dns';

/** The resolver shape mailauth accepts: rejects with an error whose `code` is a `node:dns` code. */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown[]>;

/** Options for {@link createDnsResolver}. */
export interface DnsResolverOptions {
  /** `host:port` or address of DNS servers to ask; default: the system resolver's. */
  servers?: string[];
  /** Time limit for one query; after it the lookup fails with `ETIMEOUT` (a temporary error). */
  timeoutMs?: number;
  /**
   * How long an answer is kept when DNS does not tell its TTL: `node:dns` reports TTLs for A and
   * AAAA only, so TXT, MX and PTR answers are kept this long (default 5 minutes, the TTL most
   * providers' DNS consoles suggest). Never longer than a record's own TTL where that is known.
   */
  defaultTtlMs?: number;
  /** How long "no such name" / "no such record" is kept (negative caching), default 60 s. */
  negativeTtlMs?: number;
  /** Clock for the cache; tests inject one. */
  now?: () => number;
}

/** A resolver with its cache exposed for tests and for `clear()` on configuration changes. */
export interface CachingResolver extends DnsResolver {
  /** Number of answers currently cached. */
  cacheSize(): number;
  /** Drops every cached answer. */
  clear(): void;
}

interface Entry {
  expires: number;
  answer?: unknown[];
  error?: NodeJS.ErrnoException;
}

/** Answers that are facts about the zone and may be cached; anything else (timeouts) is not. */
const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA']);

/** Node's resolver names its errors after c-ares; mailauth expects `node:dns` codes. */
function dnsError(err: NodeJS.ErrnoException, name: string, rrtype: string): NodeJS.ErrnoException {
  const out = new Error(`${rrtype} ${name}: ${err.code ?? err.message}`, {
    cause: err,
  }) as NodeJS.ErrnoException;
  out.code = err.code;
  return out;
}

/**
 * Creates a caching resolver for mailauth's `resolver` option.
 *
 * @example
 * const resolver = createDnsResolver({ servers: ['127.0.0.1:5353'] });
 * await spf({ ip: '192.0.2.1', sender: 'a@example.com', resolver });
 */
export function createDnsResolver(opts: DnsResolverOptions = {}): CachingResolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 3000, tries: 2 });
  if (opts.servers?.length) resolver.setServers(opts.servers);
  const now = opts.now ?? Date.now;
  const defaultTtl = opts.defaultTtlMs ?? 300_000;
  const negativeTtl = opts.negativeTtlMs ?? 60_000;
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<unknown[]>>();

  const query = (name: string, rrtype: string): Promise<{ answer: unknown[]; ttlMs: number }> =>
    new Promise((resolve, reject) => {
      if (rrtype === 'A' || rrtype === 'AAAA') {
        const done = (err: NodeJS.ErrnoException | null, records: RecordWithTtl[]) => {
          if (err) return reject(err);
          const ttl = Math.min(...records.map((r) => r.ttl * 1000), defaultTtl);
          resolve({ answer: records.map((r) => r.address), ttlMs: ttl });
        };
        if (rrtype === 'A') resolver.resolve4(name, { ttl: true }, done);
        else resolver.resolve6(name, { ttl: true }, done);
        return;
      }
      resolver.resolve(name, rrtype, (err: NodeJS.ErrnoException | null, records: unknown) => {
        if (err) return reject(err);
        resolve({ answer: records as unknown[], ttlMs: defaultTtl });
      });
    });

  const lookup = (async (name: string, rrtype: string): Promise<unknown[]> => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, '')}`;
    const hit = cache.get(key);
    if (hit && hit.expires > now()) {
      if (hit.error) throw hit.error;
      return hit.answer!;
    }
    cache.delete(key);
    // One question on the wire at a time per name: SPF, DMARC and DKIM ask overlapping names.
    let pending = inflight.get(key);
    if (!pending) {
      pending = query(name, rrtype.toUpperCase()).then(
        ({ answer, ttlMs }) => {
          cache.set(key, { answer, expires: now() + ttlMs });
          return answer;
        },
        (err: NodeJS.ErrnoException) => {
          const e = dnsError(err, name, rrtype);
          if (NEGATIVE.has(err.code ?? '')) cache.set(key, { error: e, expires: now() + negativeTtl });
          throw e;
        },
      );
      inflight.set(key, pending);
      pending.then(
        () => inflight.delete(key),
        () => inflight.delete(key),
      );
    }
    return pending;
  }) as CachingResolver;
  lookup.cacheSize = () => cache.size;
  lookup.clear = () => cache.clear();
  return lookup;
}

/** A temporary DNS failure (the server did not answer, or failed), as opposed to a negative answer. */
export function isTemporaryDnsError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return !!code && !NEGATIVE.has(code);
}
