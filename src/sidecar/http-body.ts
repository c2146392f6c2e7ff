/**
 * Reading the body of `POST /v1/messages` within the size limit and the memory budget: a small
 * body whole (parsed at once), a large one (or one of unknown length) streamed into the queue as it
 * arrives, keeping only the skeleton of its JSON (see json-stream.ts and payload-writer.ts), so a
 * message near the size limit costs a few parts of memory, not a few copies of itself.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { ByteBudget } from './budget.ts';
import { JsonSkeleton, JsonStringDecoder, type Skeleton } from './json-stream.ts';
import { MAX_HEAD_BYTES, messageCost, PAYLOAD_PART, streamCost } from './limits.ts';
import type { PayloadWriter, QueueStore } from './store.ts';

/** An error answer of the HTTP API. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  /** Seconds for `Retry-After`. */
  retryAfter?: number;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}

/** 503 with Retry-After: the memory budget is spent. */
export const busy = () =>
  Object.assign(
    new HttpError(
      503,
      'MemoryBudget',
      'the sidecar holds as many messages in memory as it may; try again shortly',
    ),
    { retryAfter: 1 },
  );

/**
 * Reads the body within the size limit and the memory budget, reserving as it reads (the declared
 * length up front when there is one). Resolves with the body and the bytes reserved for it.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  budget: ByteBudget,
): Promise<{ body: Buffer; held: number }> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(declared, limit));
  let held = messageCost(declared, 'json');
  if (!budget.tryReserve(held)) return Promise.reject(busy());
  return new Promise((resolve, reject) => {
    // With a declared length the body is copied into one buffer as it comes (no second copy to join it).
    let buf = Buffer.allocUnsafe(Math.max(declared, 0));
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: HttpError) => {
      budget.release(held);
      held = 0;
      reject(err);
      dropRest(req);
    };
    req.on('data', (c: Buffer) => {
      if (size + c.length > limit) return fail(tooLarge(size + c.length, limit));
      const need = messageCost(size + c.length, 'json') - held;
      if (need > 0) {
        if (!budget.tryGrow(need)) return fail(busy());
        held += need;
      }
      // Node holds a body to its Content-Length: either every chunk fits the buffer or there is none.
      if (buf.length > 0) c.copy(buf, size);
      else chunks.push(c);
      size += c.length;
    });
    req.on('end', () => {
      if (chunks.length > 0) buf = Buffer.concat(chunks, size);
      resolve({ body: buf.subarray(0, size), held });
    });
    req.on('error', (err) => {
      budget.release(held);
      reject(err);
    });
  });
}

/** 413: over `--max-message-size`. */
export function tooLarge(size: number, limit: number): HttpError {
  return new HttpError(
    413,
    'MessageTooLarge',
    `the message is ${size > limit ? `over ${limit}` : size} bytes; the limit is ${limit} bytes (--max-message-size)`,
  );
}

/** 413: the fields of a JSON body other than text and html are too long. */
function headTooLarge(): HttpError {
  return new HttpError(
    413,
    'MessageTooLarge',
    `the fields other than text and html take more than ${MAX_HEAD_BYTES} bytes; only text and html may be longer`,
  );
}

/** Whether a body of this declared length is read whole (small) rather than streamed into the queue. */
export function readWhole(req: IncomingMessage): boolean {
  const declared = Number(req.headers['content-length']);
  return req.headers['content-length'] !== undefined && declared <= PAYLOAD_PART;
}

/**
 * Reads the body into the queue as it arrives (store.begin), reserving memory for what is held
 * (parts being written, the JSON skeleton) as it reads. Resolves with the writer, the skeleton and
 * the bytes reserved; on failure the writer is aborted and nothing stays reserved.
 */
export function streamBody(
  req: IncomingMessage,
  limit: number,
  budget: ByteBudget,
  store: QueueStore,
): Promise<{ writer: PayloadWriter; skeleton: Skeleton; held: number }> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(declared, limit));
  let held = streamCost(0, 0);
  if (!budget.tryReserve(held)) return Promise.reject(busy());
  const writer = store.begin();
  // Long strings are decoded as they go by: one that JSON.parse would refuse is refused here.
  let decoder = new JsonStringDecoder();
  let invalid = false;
  const skeleton = new JsonSkeleton((_, bytes) => {
    if (invalid) return;
    try {
      if (bytes) for (const _ of decoder.pieces(bytes));
      else {
        decoder.end();
        decoder = new JsonStringDecoder();
      }
    } catch {
      invalid = true;
    }
  });
  let size = 0;
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      writer.abort();
      budget.release(held);
      held = 0;
      reject(err);
      dropRest(req);
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) return fail(tooLarge(size, limit));
      skeleton.write(c);
      if (skeleton.kept > MAX_HEAD_BYTES) return fail(headTooLarge());
      const need = streamCost(size, skeleton.kept) - held;
      if (need > 0) {
        if (!budget.tryGrow(need)) return fail(busy());
        held += need;
      }
      const wait = writer.write(c);
      if (wait) {
        req.pause();
        void wait.then(() => req.resume());
      }
    });
    req.on('end', () => {
      if (failed) return;
      if (invalid) return fail(new HttpError(400, 'InvalidJSON', 'the request body is not valid JSON'));
      if (writer.error !== undefined) return fail(writer.error);
      resolve({ writer, skeleton: skeleton.end(), held });
    });
    req.on('error', fail);
  });
}

/** Stops reading a refused body: the rest is read and dropped by the server once the answer is sent. */
function dropRest(req: IncomingMessage): void {
  req.removeAllListeners('data');
  req.resume();
}
