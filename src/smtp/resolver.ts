/**
 * Name resolution for probes through chosen DNS servers (`--dns-server host:port`), instead of the
 * system resolver: how a cluster with split DNS is checked from outside, and how tests keep every
 * packet on loopback.
 *
 * @module
 */
import { Resolver } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

/** A `lookup` for `net.connect` that asks only the given servers (A, then AAAA). */
export function lookupVia(servers: string[], timeoutMs = 2000): LookupFunction {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers(servers);
  const resolveAll = async (host: string): Promise<{ address: string; family: 4 | 6 }[]> => {
    if (isIP(host)) return [{ address: host, family: isIP(host) as 4 | 6 }];
    const settle = (p: Promise<string[]>): Promise<{ a: string[]; err?: NodeJS.ErrnoException }> =>
      p.then(
        (a) => ({ a }),
        (err: NodeJS.ErrnoException) => ({ a: [] as string[], err }),
      );
    const [v4, v6] = await Promise.all([
      settle(new Promise<string[]>((res, rej) => resolver.resolve4(host, (e, a) => (e ? rej(e) : res(a))))),
      settle(new Promise<string[]>((res, rej) => resolver.resolve6(host, (e, a) => (e ? rej(e) : res(a))))),
    ]);
    const out = [
      ...v4.a.map((address) => ({ address, family: 4 as const })),
      ...v6.a.map((address) => ({ address, family: 6 as const })),
    ];
    if (out.length === 0)
      throw v4.err ?? v6.err ?? Object.assign(new Error(`no address for ${host}`), { code: 'ENODATA' });
    return out;
  };
  return ((host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    resolveAll(host).then(
      (addrs) => (options.all ? callback(null, addrs) : callback(null, addrs[0]!.address, addrs[0]!.family)),
      (err: unknown) => callback(err),
    );
  }) as LookupFunction;
}
