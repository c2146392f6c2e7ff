/**
 * `mailroom deliveries`: the sidecar's delivery log in a terminal, read from its HTTP API
 * (`MAILROOM_API_URL`, injected into the app container, or `--api`). `--follow` keeps printing
 * each change of state, like `kubectl get -w`.
 *
 * @module
 */
import { replyText } from '../sidecar/page.ts';
import type { MessageState, MessageView } from '../sidecar/types.ts';

export interface DeliveriesOptions {
  api: string;
  state?: MessageState;
  recipient?: string;
  limit: number;
  follow: boolean;
  json: boolean;
  /** Poll interval of `--follow`, ms. */
  intervalMs: number;
  /** The sidecar's bearer token, when it requires one. */
  token?: string;
  /** Stops `--follow` (tests; the command uses SIGINT). */
  signal?: AbortSignal;
}

/** Raised when the sidecar cannot be reached or answers with an error. */
export class DeliveriesApiError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'DeliveriesApiError';
  }
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/**
 * One line for a message: time, state, id, recipients, subject, attempts, and the last reply or
 * reason; then, when a message has more than one recipient and they fared differently, one
 * indented line per recipient with its state and last reply.
 */
export function formatLine(m: MessageView): string {
  const head = formatHead(m);
  const states = m.recipientStates ?? [];
  if (states.length < 2 || states.every((r) => r.state === states[0]!.state && r.reply === states[0]!.reply))
    return head;
  const lines = states.map((r) => {
    const reply = r.reply !== undefined ? `  ${replyText({ code: r.code ?? null, reply: r.reply })}` : '';
    return `    ${pad(r.state, 9)}  ${r.address}${reply.replace(/\s+/g, ' ').trimEnd()}`;
  });
  return [head, ...lines].join('\n');
}

function formatHead(m: MessageView): string {
  const last = m.attempts.at(-1);
  const why =
    m.state === 'abandoned' || m.state === 'deferred'
      ? `${m.reason ?? ''}${last ? ` — ${replyText(last)}` : ''}`
      : m.state === 'sent' && last
        ? replyText(last)
        : '';
  const attempts = `${m.attempts.length} attempt${m.attempts.length === 1 ? '' : 's'}`;
  return [
    m.updatedAt.replace('T', ' ').slice(0, 19),
    pad(m.state, 9),
    m.id.slice(0, 8),
    pad(m.recipients.join(','), 24),
    JSON.stringify(m.subject.slice(0, 60)),
    attempts,
    why.replace(/\s+/g, ' ').trim(),
  ]
    .join('  ')
    .trimEnd();
}

async function getJson<T>(url: string, signal?: AbortSignal, token?: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      ...(signal ? { signal } : {}),
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new DeliveriesApiError(
      `cannot reach the sidecar at ${new URL(url).origin} (is it running? set --api or MAILROOM_API_URL)`,
      { cause: err },
    );
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    throw new DeliveriesApiError(`${res.status} from the sidecar: ${body.message ?? res.statusText}`);
  }
  return (await res.json()) as T;
}

function listUrl(o: DeliveriesOptions): string {
  const u = new URL('/v1/messages', o.api);
  if (o.state) u.searchParams.set('state', o.state);
  if (o.recipient) u.searchParams.set('recipient', o.recipient);
  u.searchParams.set('limit', String(o.limit));
  return u.toString();
}

/**
 * Prints the log (oldest of the page first, so the newest is at the bottom); with `follow`, then
 * prints every message whose state or attempt count changes, until `signal` aborts.
 */
export async function runDeliveries(o: DeliveriesOptions, write: (line: string) => void): Promise<void> {
  const stats = await getJson<{ counts: Record<MessageState, number>; ready: boolean; reason?: string }>(
    new URL('/v1/stats', o.api).toString(),
    o.signal,
    o.token,
  );
  if (!o.json) {
    const counts = Object.entries(stats.counts)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ');
    write(`# ${counts}${stats.ready ? '' : ` — not ready: ${stats.reason ?? 'no config'}`}`);
  }
  const seen = new Map<string, string>();
  const show = (m: MessageView) => write(o.json ? JSON.stringify(m) : formatLine(m));
  const page = await getJson<{ messages: MessageView[] }>(listUrl(o), o.signal, o.token);
  for (const m of page.messages.reverse()) {
    seen.set(m.id, `${m.state}/${m.attempts.length}`);
    show(m);
  }
  while (o.follow && !o.signal?.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.intervalMs);
      o.signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (o.signal?.aborted) break;
    let next: { messages: MessageView[] };
    try {
      next = await getJson<{ messages: MessageView[] }>(listUrl(o), o.signal, o.token);
    } catch (err) {
      if (o.signal?.aborted) break;
      throw err;
    }
    for (const m of next.messages.reverse()) {
      const key = `${m.state}/${m.attempts.length}`;
      if (seen.get(m.id) === key) continue;
      seen.set(m.id, key);
      show(m);
    }
  }
}
