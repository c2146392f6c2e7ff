/**
 * The HTTP front door and the sidecar's own endpoints:
 *
 * | route                        | answer |
 * |------------------------------|--------|
 * | `POST /v1/messages`          | `202 {id, state}` once committed; `200 {id, duplicate: true}` for a repeated idempotency key |
 * | `GET /v1/messages/{id}`      | `{id, state, attempts: [{at, code, reply, durationMs}], …}` |
 * | `GET /v1/messages?state=&recipient=&limit=&cursor=` | `{messages, nextCursor?}`, newest first |
 * | `GET /v1/stats`              | `{counts, config, inFlight}` |
 * | `GET /healthz`, `/readyz`    | liveness; readiness (a config is loaded) with the reason when not |
 * | `GET /metrics`               | Prometheus |
 * | `GET /`                      | the delivery log page |
 *
 * Taking a posted message in is http-post.ts's; this module routes, checks access and answers.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Check } from '../runtime/health.ts';
import type { Logger } from '../runtime/logger.ts';
import { NO_SECRETS } from '../runtime/redact.ts';
import { endpointAddress } from '../smtp/uri.ts';
import type { ConfigState } from './config-watcher.ts';
import { HttpError } from './http-body.ts';
import { type MessagePostOptions, messagePoster } from './http-post.ts';
import { MessageRejectedError } from './message.ts';
import { renderPage } from './page.ts';
import { MESSAGE_STATES, type MessageState } from './types.ts';

// Not an ES import: that evaluates node:http's lazy exports, undici among them (see mail-libs.ts).
// Read when the door opens, not at load: the startup snapshot (src/cli/snapshot.ts) cannot hold it.
const http = () => process.getBuiltinModule('node:http');

export interface HttpDoorOptions extends MessagePostOptions {
  logger: Logger;
  /** When set, the API and the page require `Authorization: Bearer <token>`. */
  token?: string;
  /** The config state, for `/readyz`, `/v1/stats` and the page. */
  configState: () => ConfigState;
  /** What `/healthz` checks (the sidecar's liveness checks). */
  health: readonly Check[];
  inFlight: () => number;
}

function sendRaw(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
  res.end(text);
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d{1,5})?$/i;

/** Whether a request may use the API: a loopback Host (no DNS rebinding) and the token, when set. */
function checkAccess(req: IncomingMessage, token: string | undefined): void {
  if (!LOOPBACK_HOST.test(req.headers.host ?? '')) {
    throw new HttpError(
      403,
      'ForbiddenHost',
      'the sidecar answers only requests addressed to a loopback host (127.0.0.1, localhost, [::1])',
    );
  }
  if (token === undefined) return;
  const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !process.getBuiltinModule('node:crypto').timingSafeEqual(a, b)) {
    throw new HttpError(
      401,
      'Unauthorized',
      'this sidecar requires Authorization: Bearer <token> (--http-token)',
    );
  }
}

/** Creates the HTTP server (not yet listening). */
export function createHttpDoor(o: HttpDoorOptions): Server {
  // Every answer (API, page, metrics) leaves through here, redacted of the config's secrets.
  const send = (res: ServerResponse, status: number, body: unknown, type?: string): void => {
    const r = o.configState().current?.redactor ?? NO_SECRETS;
    sendRaw(res, status, typeof body === 'string' ? r.text(body) : r.deep(body), type);
  };
  const readiness = () => {
    const s = o.configState();
    if (!s.current)
      return { status: 503, body: { ready: false, reason: s.problem ?? 'no config loaded yet' } };
    const { config, endpoint, source, loadedAt } = s.current;
    return {
      status: 200,
      body: {
        ready: true,
        config: {
          revision: config.revision,
          endpoint: endpointAddress(endpoint),
          security: endpoint.security,
          from: config.from.address,
          source,
          loadedAt: loadedAt.toISOString(),
        },
        ...(s.problem ? { problem: s.problem } : {}),
      },
    };
  };

  const postMessage = messagePoster(o, send);

  function listMessages(url: URL, res: ServerResponse): void {
    const state = url.searchParams.get('state') ?? undefined;
    if (state !== undefined && !(MESSAGE_STATES as readonly string[]).includes(state)) {
      throw new HttpError(400, 'InvalidQuery', `state must be one of ${MESSAGE_STATES.join(', ')}`, 'state');
    }
    const limit = url.searchParams.get('limit');
    const page = o.store.list({
      ...(state ? { state: state as MessageState } : {}),
      ...(url.searchParams.get('recipient') ? { recipient: url.searchParams.get('recipient')! } : {}),
      ...(limit ? { limit: Number(limit) || 50 } : {}),
      ...(url.searchParams.get('cursor') ? { cursor: url.searchParams.get('cursor')! } : {}),
    });
    send(res, 200, page);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sidecar');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') checkAccess(req, o.token);
    if (path === '/v1/messages' && method === 'POST') return postMessage(req, res);
    if (method !== 'GET' && method !== 'HEAD')
      throw new HttpError(405, 'MethodNotAllowed', `${method} ${path}`);
    // The queue file could not be opened yet (a start on a full disk): its messages are unknown,
    // not absent.
    if (path.startsWith('/v1/messages') && o.store.opening !== undefined)
      throw Object.assign(new HttpError(503, 'QueueNotOpen', o.store.opening), { retryAfter: 5 });
    if (path === '/v1/messages') return listMessages(url, res);
    const one = /^\/v1\/messages\/([0-9a-f-]{36})$/.exec(path);
    if (one) {
      const m = o.store.get(one[1]!);
      if (!m) throw new HttpError(404, 'NotFound', `no message ${one[1]}`);
      return send(res, 200, m);
    }
    if (path === '/v1/stats') {
      return send(res, 200, { counts: o.store.counts(), inFlight: o.inFlight(), ...readiness().body });
    }
    if (path === '/healthz') {
      for (const c of o.health) {
        const verdict = c.check();
        if (verdict !== true) return send(res, 503, { ok: false, problem: `${c.name}: ${verdict}` });
      }
      return send(res, 200, { ok: true });
    }
    if (path === '/readyz') {
      const r = readiness();
      return send(res, r.status, r.body);
    }
    if (path === '/metrics') {
      return send(res, 200, await o.metrics.registry.metrics(), o.metrics.registry.contentType.split(';')[0]);
    }
    if (path === '/') {
      const html = renderPage({
        counts: o.store.counts(),
        messages: o.store.list({ limit: 50 }).messages,
        config: o.configState(),
      });
      return send(res, 200, html, 'text/html');
    }
    throw new HttpError(404, 'NotFound', `no route ${path}`);
  }

  const server = http().createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof MessageRejectedError) {
        o.metrics.rejected.inc({ door: 'http', reason: err.reason });
        return send(res, 400, { error: err.reason, message: err.message, field: err.field });
      }
      if (err instanceof HttpError) {
        if (err.code === 'MessageTooLarge') {
          o.metrics.rejected.inc({ door: 'http', reason: err.code });
          res.setHeader('connection', 'close');
        }
        if (err.retryAfter !== undefined) {
          o.metrics.refusedBusy.inc({ door: 'http', reason: err.code });
          res.setHeader('retry-after', String(err.retryAfter));
        }
        return send(res, err.status, { error: err.code, message: err.message, field: err.field });
      }
      o.logger.error({ err }, 'HTTP request failed');
      send(res, 503, { error: 'Unavailable', message: 'the queue could not take the request; try again' });
    });
  });
  return server;
}
