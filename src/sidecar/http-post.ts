/**
 * `POST /v1/messages`: the HTTP door's way in for new mail. The request is checked (JSON, an
 * Idempotency-Key of the right length, room in the queue), its body read whole when small or
 * streamed into the queue when large (http-body.ts), parsed into a message, and acknowledged
 * (`202 {id, state}`, or `200 {id, duplicate: true}` for a repeated key) only once the queue has
 * committed it durably. Refusals are `HttpError`s the door turns into answers.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ByteBudget } from './budget.ts';
import { HttpError, readBody, readWhole, streamBody, tooLarge } from './http-body.ts';
import { MAX_IDEMPOTENCY_KEY } from './limits.ts';
import { envelopeAddress, parseJsonMessage } from './message.ts';
import { parseJsonSkeleton } from './message-skeleton.ts';
import type { SidecarMetrics } from './metrics.ts';
import { PayloadWriter } from './payload-writer.ts';
import { asciiLocalPart, smtputf8Refusal } from './smtputf8.ts';
import {
  IdempotencyConflictError,
  QueueRefusedError,
  type QueueStore,
  type StreamedMessage,
} from './store.ts';
import type { NewMessage } from './types.ts';

/** What posting a message needs of the sidecar. */
export interface MessagePostOptions {
  store: QueueStore;
  metrics: SidecarMetrics;
  maxMessageBytes: number;
  /** Memory for messages being accepted; a request that does not fit gets 503. */
  budget: ByteBudget;
  onQueued?: () => void;
  /** Whether the upstream offers SMTPUTF8 (undefined while not known): refuses what it cannot take. */
  smtputf8?: () => boolean | undefined;
}

/** How the door answers (redacted): status, body. */
type Send = (res: ServerResponse, status: number, body: unknown) => void;

/** A queue that refuses new mail (the quota, a full disk) answers 507 with Retry-After: "try later". */
function tryLater(err: unknown): never {
  if (err instanceof QueueRefusedError)
    throw Object.assign(new HttpError(507, err.reason, err.message), { retryAfter: 10 });
  throw err;
}

/** The handler of `POST /v1/messages`; it throws what the door answers with an error. */
export function messagePoster(
  o: MessagePostOptions,
  send: Send,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  async function postMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new HttpError(
        415,
        'UnsupportedMediaType',
        'POST /v1/messages takes Content-Type: application/json',
      );
    }
    const header = req.headers['idempotency-key'];
    const key = typeof header === 'string' ? header : undefined;
    if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY)) {
      throw new HttpError(
        400,
        'InvalidMessage',
        `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY} characters`,
        'Idempotency-Key',
      );
    }
    const refusal = o.store.disk.check(Number(req.headers['content-length'] ?? 0));
    if (refusal) throw Object.assign(new HttpError(507, refusal.reason, refusal.message), { retryAfter: 10 });
    // A streamed body meets the quota or a full disk while its parts are written: the same 507.
    const { msg, json, held } = await (readWhole(req)
      ? wholeMessage(req, key)
      : streamedMessage(req, key)
    ).catch(tryLater);
    try {
      if (o.smtputf8?.() === false) refuseWithoutSmtputf8(msg.recipients, json);
      let queued: Awaited<ReturnType<QueueStore['enqueue']>>;
      const enqueuing = o.store.enqueue(msg);
      // From here the queue owns a streamed payload: it drops the parts itself when the enqueue fails.
      held.enqueued = true;
      try {
        queued = await enqueuing.catch(tryLater);
      } catch (err) {
        if (err instanceof IdempotencyConflictError)
          throw new HttpError(409, 'IdempotencyConflict', err.message, 'Idempotency-Key');
        throw err;
      }
      if (queued.duplicate) return send(res, 200, { id: queued.id, duplicate: true });
      o.metrics.accepted.inc({ door: 'http' });
      o.onQueued?.();
      send(res, 202, { id: queued.id, state: 'queued' });
    } finally {
      if (!held.enqueued && msg.payload instanceof PayloadWriter) msg.payload.abort();
      o.budget.release(held.bytes);
    }
  }

  /** What a body read into: the message to enqueue, its parsed JSON, and the memory reserved. */
  type Read = {
    msg: NewMessage | StreamedMessage;
    json: unknown;
    held: { bytes: number; enqueued: boolean };
  };

  /** A small body, read whole and parsed at once. */
  async function wholeMessage(req: IncomingMessage, key: string | undefined): Promise<Read> {
    const { body, held } = await readBody(req, o.maxMessageBytes, o.budget);
    try {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HttpError(400, 'InvalidJSON', 'the request body is not valid JSON');
      }
      const msg = parseJsonMessage(json, key, body);
      if (msg.payload.length > o.maxMessageBytes) throw tooLarge(msg.payload.length, o.maxMessageBytes);
      return { msg, json, held: { bytes: held, enqueued: false } };
    } catch (err) {
      o.budget.release(held);
      throw err;
    }
  }

  /** A large body (or one of unknown length), streamed into the queue and parsed from its skeleton. */
  async function streamedMessage(req: IncomingMessage, key: string | undefined): Promise<Read> {
    const { writer, skeleton, held } = await streamBody(req, o.maxMessageBytes, o.budget, o.store);
    try {
      let json: unknown;
      try {
        json = JSON.parse(skeleton.text);
      } catch {
        throw new HttpError(400, 'InvalidJSON', 'the request body is not valid JSON');
      }
      let meta: Awaited<ReturnType<typeof parseJsonSkeleton>>;
      try {
        meta = await parseJsonSkeleton(json, skeleton.long, key, (start, end) => writer.read(start, end));
      } catch (err) {
        if (err instanceof SyntaxError)
          throw new HttpError(400, 'InvalidJSON', 'the request body is not valid JSON');
        throw err;
      }
      return { msg: { ...meta, payload: writer }, json, held: { bytes: held, enqueued: false } };
    } catch (err) {
      writer.abort();
      o.budget.release(held);
      throw err;
    }
  }

  /** 422 for the first address with a non-ASCII local part, named by its field (`to.1`, `cc`). */
  function refuseWithoutSmtputf8(recipients: string[], body: unknown): void {
    if (recipients.every(asciiLocalPart)) return;
    for (const field of ['to', 'cc', 'bcc'] as const) {
      const v = (body as Record<string, unknown>)[field];
      const list = (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String);
      const i = list.findIndex((d) => !asciiLocalPart(envelopeAddress(d)));
      if (i < 0) continue;
      o.metrics.rejected.inc({ door: 'http', reason: 'SMTPUTF8Unavailable' });
      const name = Array.isArray(v) ? `${field}.${i}` : field;
      throw new HttpError(422, 'SMTPUTF8Unavailable', smtputf8Refusal(envelopeAddress(list[i]!)), name);
    }
  }

  return postMessage;
}
