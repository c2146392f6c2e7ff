/**
 * The webhook's HTTPS server: AdmissionReviews on {@link MUTATE_PATH}, a liveness answer on
 * `/healthz`. Its certificate can be swapped while it runs, so a rotation drops no request.
 *
 * Any pod can reach the webhook port (the API server's address cannot be named in a NetworkPolicy),
 * and this process also renews the controller's Lease, so what one client can cost is bounded: new
 * connections (each a TLS handshake) and requests per source address go through token buckets, and
 * request bodies held in memory at once share one byte budget. The defaults sit far above what an
 * API server sends for pod creations; a source over its rate gets `429` (the API server then applies
 * the failurePolicy, and the ReplicaSet retries).
 *
 * @module
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../runtime/logger.ts';
import { KeyedTokenBuckets, type RateLimit } from '../runtime/token-bucket.ts';
import { type AdmissionDeps, type AdmissionRequest, handleAdmission } from './admission.ts';
import { MUTATE_PATH } from './constants.ts';

/** A running webhook server. */
export interface WebhookServer {
  /** `host:port` it listens on. */
  readonly address: string;
  /** Serves a new certificate from now on; connections already open keep theirs. */
  setCertificate(pem: { cert: string; key: string }): void;
  /** What the limits turned away since start. */
  stats(): WebhookServerStats;
  close(): Promise<void>;
}

/** Counters of {@link WebhookServer.stats}. */
export interface WebhookServerStats {
  /** Requests answered `429` (source over its request rate). */
  rateLimited: number;
  /** Connections closed before the TLS handshake (source over its connection rate). */
  connectionsRefused: number;
  /** Requests answered `503` because the body budget was spent. */
  overBudget: number;
  /** Source addresses tracked now (capped). */
  sources: number;
}

/** Per-source limits of the webhook server. */
export interface WebhookLimits {
  /** Requests per source address. Default 100/s, bursts of 200. */
  requests?: RateLimit;
  /** New connections per source address. Default 20/s, bursts of 50. */
  connections?: RateLimit;
  /** Request body bytes held at once, across all requests. Default 32 MiB. */
  bufferedBytes?: number;
  /** Source addresses tracked at most. Default 4096. */
  maxSources?: number;
}

/** Options of {@link startWebhookServer}. */
export interface WebhookServerOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  cert: string;
  key: string;
  deps: AdmissionDeps;
  log: Logger;
  limits?: WebhookLimits;
  /** Called with each admission's handling time in milliseconds (metrics, bench). */
  observe?(ms: number, injected: boolean): void;
}

// The API server refuses request bodies over 3 MiB; an AdmissionReview holds the object twice at most.
const MAX_BODY = 7 * 1024 * 1024;

function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  if (i < 0) throw new Error(`--webhook-listen: "${listen}" is not host:port`);
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
  const port = Number(listen.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--webhook-listen: bad port in "${listen}"`);
  return { host, port };
}

/** Starts the HTTPS server and resolves once it listens. */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const { host, port } = splitHostPort(opts.listen);
  const limits = opts.limits ?? {};
  const maxKeys = limits.maxSources ?? 4096;
  const requests = new KeyedTokenBuckets({ ...(limits.requests ?? { perSecond: 100, burst: 200 }), maxKeys });
  const connections = new KeyedTokenBuckets({
    ...(limits.connections ?? { perSecond: 20, burst: 50 }),
    maxKeys,
  });
  const budget = limits.bufferedBytes ?? 32 * 1024 * 1024;
  let buffered = 0;
  const stats = { rateLimited: 0, connectionsRefused: 0, overBudget: 0 };
  const server: Server = createServer(
    { cert: opts.cert, key: opts.key, minVersion: 'TLSv1.2' },
    (req, res) => {
      const wait = requests.take(req.socket.remoteAddress ?? '');
      if (wait > 0) {
        stats.rateLimited++;
        res
          .writeHead(429, {
            'content-type': 'text/plain',
            'retry-after': String(Math.ceil(wait / 1000)),
            connection: 'close',
          })
          .end('too many requests from this address\n');
        return;
      }
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (req.method !== 'POST' || req.url?.split('?')[0] !== MUTATE_PATH) {
        res.writeHead(404).end();
        return;
      }
      const started = performance.now();
      const chunks: Buffer[] = [];
      let size = 0;
      const release = () => {
        buffered -= size;
        size = 0;
      };
      req.on('close', release);
      req.on('data', (c: Buffer) => {
        if (buffered + c.length > budget) {
          stats.overBudget++;
          release();
          res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('busy\n');
          req.destroy();
          return;
        }
        size += c.length;
        buffered += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        release();
        let request: AdmissionRequest | undefined;
        try {
          request = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: AdmissionRequest })
            .request;
        } catch {}
        if (!request?.uid) {
          res
            .writeHead(400, { 'content-type': 'text/plain' })
            .end('expected an admission.k8s.io/v1 AdmissionReview\n');
          return;
        }
        handleAdmission(request, opts.deps).then(
          (out) => {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
            opts.observe?.(performance.now() - started, out.response.patch !== undefined);
          },
          (err: unknown) => {
            // The API server then applies the failurePolicy; say why in our log, not in its message.
            opts.log.error({ err, uid: request.uid }, 'admission failed');
            res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
          },
        );
      });
    },
  );
  // The API server keeps connections to webhooks open; a short idle timeout would cost a handshake each.
  server.keepAliveTimeout = 120_000;
  server.on('tlsClientError', (err) => opts.log.debug({ err }, 'webhook TLS handshake failed'));
  // Before the handshake, which is the costly part of a new connection.
  server.on('connection', (socket: Socket) => {
    if (connections.take(socket.remoteAddress ?? '') > 0) {
      stats.connectionsRefused++;
      socket.destroy();
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const address = `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    address,
    setCertificate(pem) {
      server.setSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' });
    },
    stats: () => ({ ...stats, sources: requests.size }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
