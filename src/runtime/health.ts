/**
 * The plumbing HTTP server of a Mailroom process: `/healthz` (alive), `/readyz` (ready for work)
 * and `/metrics` (Prometheus), on addresses given as `host:port` or `:port`.
 *
 * @module
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';
import type { Registry } from './metrics.ts';

// Not `import … from 'node:http'`: an ES import of node:http evaluates every export of its
// namespace, whose lazy getters load undici (fetch), http2, zlib and worker_threads — 13 MB of
// resident memory in a bare process (3 MB in the controller, which loads some of it anyway).
// getBuiltinModule returns the module alone. Read when a server starts, not at load: the sidecar's
// startup snapshot (src/cli/snapshot.ts) evaluates this module, and V8 cannot keep node:http in it.
const http = () => process.getBuiltinModule('node:http');

/** A named check: `true` when fine, else a short reason. */
export interface Check {
  name: string;
  check(): true | string;
}

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  /** `host:port`, `:port` (all interfaces) or `[::1]:port`; port 0 picks a free one. */
  listen: string;
  healthz?: readonly Check[];
  readyz?: readonly Check[];
  registry?: Registry;
  log?: Logger;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port` as bound. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Splits `host:port`, `:port` or `[v6]:port`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!m) throw new Error(`listen address "${listen}" must be host:port or :port (e.g. :8080, 127.0.0.1:0)`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`listen address "${listen}": port out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function runChecks(checks: readonly Check[] | undefined): { ok: boolean; body: string } {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks ?? []) {
    let verdict: true | string;
    try {
      verdict = c.check();
    } catch (err) {
      verdict = (err as Error).message;
    }
    if (verdict === true) lines.push(`[+] ${c.name} ok`);
    else {
      ok = false;
      lines.push(`[-] ${c.name} failed: ${verdict}`);
    }
  }
  lines.push(ok ? 'ok' : 'failed');
  return { ok, body: `${lines.join('\n')}\n` };
}

/**
 * Serves health and metrics on `listen`. A path that is not configured answers 404.
 *
 * @example
 * const srv = await startHttpServer({ listen: '127.0.0.1:0', readyz: [{ name: 'cache', check: () => true }] });
 * await fetch(`${srv.url}/readyz`); // 200 "[+] cache ok\nok\n"
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  const server: Server = http().createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'method not allowed\n');
    if ((path === '/healthz' || path === '/livez') && opts.healthz) {
      const r = runChecks(opts.healthz);
      return answer(r.ok ? 200 : 503, r.body);
    }
    if (path === '/readyz' && opts.readyz) {
      const r = runChecks(opts.readyz);
      return answer(r.ok ? 200 : 503, r.body);
    }
    if (path === '/metrics' && opts.registry) {
      const registry = opts.registry;
      registry
        .metrics()
        .then((text) => answer(200, text, registry.contentType))
        .catch((err: Error) => {
          opts.log?.error({ err }, 'metrics collection failed');
          answer(500, 'metrics collection failed\n');
        });
      return;
    }
    answer(404, 'not found\n');
  });
  server.keepAliveTimeout = 5000;
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
