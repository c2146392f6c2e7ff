/**
 * A small JSON client for the Kubernetes API on one keep-alive HTTPS agent.
 *
 * client-node 2.x builds a new HTTP agent (so a new TCP and TLS connection) for every request; a
 * controller that writes thousands of statuses must reuse connections. Where the server is and how
 * to authenticate comes from `kubeconfig.ts`.
 *
 * @module
 */
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { ClusterAccess } from './kubeconfig.ts';

// Not `import … from 'node:http'`: an ES import of node:http evaluates every export of its
// namespace, whose lazy getters load undici (fetch), http2, zlib, worker_threads and more: 13 MB
// of resident memory in a bare process, 3 MB in the controller (which needs some of it anyway). getBuiltinModule returns the module alone.
const { Agent: HttpAgentClass, request: httpRequest } = process.getBuiltinModule('node:http');

/** An error status from the API server (or a transport failure, `status` 0). */
export class KubeApiError extends Error {
  readonly status: number;
  /** The `reason` of the API's Status object (`NotFound`, `Conflict`, `Expired`, …). */
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

/** Options of one request. */
export interface RequestInit {
  body?: unknown;
  /** Default `application/json`; patches pass `application/merge-patch+json`. */
  contentType?: string;
  accept?: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /** Abort when no byte arrives for this long. Default 30 s. */
  timeoutMs?: number;
}

const HEADER_TTL_MS = 30_000;

/** JSON requests and line streams against the API server of a kubeconfig. */
export class KubeRest {
  readonly server: URL;
  readonly #access: ClusterAccess;
  readonly #agent: HttpAgent;
  #headers?: { at: number; value: Record<string, string> };

  constructor(access: ClusterAccess) {
    this.#access = access;
    this.server = access.server;
    const opts = { keepAlive: true, maxSockets: 32 };
    this.#agent =
      this.server.protocol === 'https:'
        ? new HttpsAgent({ ...opts, ...access.tls })
        : new HttpAgentClass(opts);
  }

  /** Reads the auth headers once, so a bad token file fails at start rather than at the first call. */
  async init(): Promise<this> {
    await this.#authHeaders();
    return this;
  }

  async #authHeaders(): Promise<Record<string, string>> {
    if (this.#headers && Date.now() - this.#headers.at < HEADER_TTL_MS) return this.#headers.value;
    // Token files (in-cluster, bound service-account tokens) rotate: read them again now and then.
    this.#headers = { at: Date.now(), value: await this.#access.headers() };
    return this.#headers.value;
  }

  async #open(method: string, path: string, init: RequestInit): Promise<IncomingMessage> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(init.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const body = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body));
    const headers: Record<string, string | number> = {
      ...(await this.#authHeaders()),
      Accept: init.accept ?? 'application/json',
      'User-Agent': 'mailroom-controller',
    };
    if (body) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
      headers['Content-Length'] = body.length;
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.#agent, signal: init.signal }, resolve);
      req.setTimeout(init.timeoutMs ?? 30_000, () =>
        req.destroy(new KubeApiError(0, 'Timeout', `${method} ${url.pathname}: no answer in time`)),
      );
      req.on('error', (err) =>
        reject(
          err instanceof KubeApiError
            ? err
            : new KubeApiError(0, 'Transport', `${method} ${url.pathname}: ${err.message}`, { cause: err }),
        ),
      );
      req.end(body);
    });
  }

  /** Sends a request and parses the JSON answer; throws {@link KubeApiError} for a non-2xx status. */
  async request<T = unknown>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.#open(method, path, init);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiError(method, path, status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Opens a streaming GET (a watch) and calls `onLine` with each parsed JSON line. Resolves when the
   * server ends the stream; rejects on errors, on `signal`, and after `timeoutMs` of silence (the
   * watchdog for a watch that stalls without closing).
   */
  async stream(path: string, onLine: (obj: unknown) => void, init: RequestInit = {}): Promise<void> {
    const res = await this.#open('GET', path, init);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw apiError('GET', path, status, Buffer.concat(chunks).toString('utf8'));
    }
    const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      onLine(JSON.parse(line));
    }
  }

  /** Closes idle connections. */
  close(): void {
    this.#agent.destroy();
  }
}

function apiError(method: string, path: string, status: number, text: string): KubeApiError {
  let reason = 'Unknown';
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    reason = parsed.reason ?? reason;
    message = parsed.message ?? message;
  } catch {}
  return new KubeApiError(status, reason, `${method} ${path.split('?')[0]}: ${status} ${message}`);
}

/** True for a 404. */
export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
/** True for a 409. */
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;
