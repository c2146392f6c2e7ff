/**
 * The webhook's HTTPS server: AdmissionReviews on {@link MUTATE_PATH}, a liveness answer on
 * `/healthz`. Its certificate can be swapped while it runs, so a rotation drops no request.
 *
 * @module
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../runtime/logger.ts';
import { type AdmissionDeps, type AdmissionRequest, handleAdmission } from './admission.ts';
import { MUTATE_PATH } from './constants.ts';

/** A running webhook server. */
export interface WebhookServer {
  /** `host:port` it listens on. */
  readonly address: string;
  /** Serves a new certificate from now on; connections already open keep theirs. */
  setCertificate(pem: { cert: string; key: string }): void;
  close(): Promise<void>;
}

/** Options of {@link startWebhookServer}. */
export interface WebhookServerOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  cert: string;
  key: string;
  deps: AdmissionDeps;
  log: Logger;
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
  const server: Server = createServer(
    { cert: opts.cert, key: opts.key, minVersion: 'TLSv1.2' },
    (req, res) => {
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
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
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
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const address = `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    address,
    setCertificate(pem) {
      server.setSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
