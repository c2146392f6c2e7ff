/**
 * The sidecar's resource limits and the defaults derived from what it is given: the byte budget for
 * messages held in memory (from the V8 heap it runs with), the queue quota on disk, and the size of
 * the `emptyDir` the webhook gives the queue (from the quota). One home, so the webhook and the
 * sidecar cannot disagree.
 *
 * @module
 */
import { getHeapStatistics } from 'node:v8';

const MiB = 1024 * 1024;

/** Default queue quota: what the queue may hold on disk (database and WAL together). */
export const DEFAULT_MAX_QUEUE_BYTES = 160 * MiB;

/** Most envelope recipients of one message, at both doors (RFC 5321 asks servers to take 100). */
export const MAX_RECIPIENTS = 100;

/** Longest `Idempotency-Key` accepted. */
export const MAX_IDEMPOTENCY_KEY = 255;

/** Attempts that end in a crash of the process before a message is abandoned as poison. */
export const DEFAULT_MAX_CRASHES = 3;

/**
 * The `emptyDir` sizeLimit for a queue quota, as a Kubernetes quantity: the quota, plus room for a
 * WAL that has not been checkpointed yet, the spare file kept for a full disk and one message being
 * accepted (a kubelet that finds the volume over its limit evicts the pod, queue and all).
 */
export function dataVolumeSizeLimit(maxQueueBytes = DEFAULT_MAX_QUEUE_BYTES): string {
  return `${Math.ceil((maxQueueBytes * 1.6) / MiB)}Mi`;
}

/**
 * Default byte budget for messages in memory: a third of the V8 heap the process runs with (the
 * injected `--max-old-space-size`). A small message costs a few times its size while it is
 * parsed, composed and written, a large one a few payload parts (see {@link messageCost} and
 * {@link streamCost}), and the rest of the heap is the process itself.
 */
export function defaultInFlightBytes(heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.max(4 * MiB, Math.floor(heapLimit / 3));
}

/** Bytes of one payload part in the queue (SQLite copies a bound or read value whole). */
export const PAYLOAD_PART = 256 * 1024;

/**
 * Most bytes of what a door keeps of a large message to check it and a send reads whole: the
 * header block of a raw message, the fields other than `text` and `html` of a JSON one.
 */
export const MAX_HEAD_BYTES = 1024 * 1024;

/**
 * What holding one message costs in memory, in bytes, by how it came in. A message up to a part
 * is held whole: an HTTP message is a JSON string, parsed, and composed into MIME by nodemailer
 * (several copies, on the heap and off it); an SMTP message stays a Buffer, copied once when its
 * header block is rewritten and once more on its way to the socket. A larger one is read back from
 * the queue a part at a time while it is sent (stored-message.ts): a part read, its text decoded
 * (up to twice its bytes) and encoded again, and what is read whole, at most {@link MAX_HEAD_BYTES}
 * a few times over (bytes, text, parsed).
 */
export function messageCost(size: number, kind: 'json' | 'raw'): number {
  if (size > PAYLOAD_PART) return 4 * PAYLOAD_PART + 3 * Math.min(size, MAX_HEAD_BYTES) + 16 * 1024;
  return size * (kind === 'json' ? 5 : 3) + 16 * 1024;
}

/**
 * What a message being streamed into the queue costs in memory (see payload-writer.ts), once
 * `received` bytes of it came in: what is not written yet (two parts at most: one being written,
 * one filling) and what the door keeps to check it (`kept`: the header block of a raw
 * message, the skeleton of a JSON one), a few times over while it is parsed.
 */
export function streamCost(received: number, kept: number): number {
  return Math.min(received, 2 * PAYLOAD_PART) + 3 * kept + 16 * 1024;
}
