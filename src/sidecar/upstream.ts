/**
 * The upstream connection pool: nodemailer's pooled SMTP transport, handed messages that are
 * already built, not `sendMail` options.
 *
 * `sendMail` compiles every message into a MIME tree and streams it out through a chain of
 * transforms (several streams, pipelines and listeners per message, whatever its size). For the
 * sidecar's small messages that was most of the CPU time of a delivery and a third of its garbage
 * (`npm run bench:sidecar`, profiled). Here a message is a Buffer built once (mime.ts, compose.ts),
 * or a stream when it is large; the pool's connections, pipelining, connection reuse and error
 * handling are nodemailer's own, as is DKIM signing. The pool is built (and nodemailer loaded) with
 * the first message: an idle sidecar loads no mail library.
 *
 * The pool takes what `sendMail` gives a transport (nodemailer's documented transport interface:
 * `send(mail, callback)` with `mail.data` and `mail.message`); of `mail.message` it uses the
 * envelope, the Message-ID and the stream, which {@link Upstream.send} provides.
 *
 * @module
 */
import type { Duplex, Readable } from 'node:stream';
import type DKIM from 'nodemailer/lib/dkim';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import { dkimSigner, smtpPool } from './mail-libs.ts';

/** A message ready to go: its envelope, its Message-ID and its bytes (or a tree that writes them). */
export interface Outgoing {
  envelope: { from: string; to: string[] };
  messageId: string;
  /** The whole message; a stream for a large one; or a nodemailer MIME node (its envelope is used). */
  body: Buffer | Readable | MimeTree;
}

/** What the pool needs of a nodemailer MIME node. */
export interface MimeTree {
  getEnvelope(): { from: string | false; to: string[] };
  createReadStream(): Readable;
}

/** What the upstream answered to a message. */
export interface SentInfo {
  response?: string;
  rejectedErrors?: unknown[];
  /** The EHLO reply lines of the connection that sent it. */
  ehlo?: string[];
}

function isTree(body: Outgoing['body']): body is MimeTree {
  return typeof (body as Partial<MimeTree>).getEnvelope === 'function';
}

/**
 * A small message as nodemailer's connection takes it. The connection pipes a message into its
 * dot-stuffing stream, itself piped to the socket; a Buffer it writes into that stream and ends
 * itself, and the body and the terminating `.` (pushed by the stream's flush) left in two socket
 * writes. `pipe`, all the connection calls of this object, pauses the stream while it takes both,
 * and one `read()` (without a size: all it holds) hands the socket one chunk: one write per message
 * instead of two, the same bytes on the wire. A loopback write costs 12-14 µs of the process's CPU
 * (`perf` on-CPU samples of the shipped sidecar under `npm run bench:sidecar`; V8's profile shows
 * ≈30 µs, counting the time the process is switched out while the peer wakes).
 */
export function inOneWrite(body: Buffer): { pipe<T extends Duplex>(stream: T): T } {
  return {
    pipe(stream) {
      stream.pause();
      stream.write(body);
      stream.end();
      // Everything it holds (readable.read() without a size): one 'data' for its pipe to the socket.
      stream.read();
      // Flowing again, whatever is left (a flush deferred by backpressure) goes out as before.
      stream.resume();
      return stream;
    },
  };
}

/**
 * What the pool reads of a message (nodemailer's MailMessage, in part). A class: its methods are
 * shared, where an object literal made four closures per message.
 */
class PoolMessage {
  readonly #m: Outgoing;
  readonly #dkim: DKIM | undefined;
  readonly #envelope: { from: string | false; to: string[] };

  constructor(m: Outgoing, dkim: DKIM | undefined) {
    this.#m = m;
    this.#dkim = dkim;
    this.#envelope = isTree(m.body) ? m.body.getEnvelope() : m.envelope;
  }

  getEnvelope(): { from: string | false; to: string[] } {
    return this.#envelope;
  }

  messageId(): string {
    return this.#m.messageId;
  }

  getHeader(key: string): string | undefined {
    return key.toLowerCase() === 'message-id' ? this.#m.messageId : undefined;
  }

  createReadStream() {
    const { body } = this.#m;
    const dkim = this.#dkim;
    if (Buffer.isBuffer(body) && !dkim) return inOneWrite(body);
    const out = isTree(body) ? body.createReadStream() : body;
    return dkim ? dkim.sign(out) : out;
  }
}

/** Pool options as `transportOptions` builds them, with `dkim` when messages are signed. */
export type UpstreamOptions = SMTPPool.Options & { dkim?: ConstructorParameters<typeof DKIM>[0] };

/** A pool of upstream connections for one config. */
export class Upstream {
  readonly #options: UpstreamOptions;
  readonly #onError: (err: Error) => void;
  #pool: SMTPPool | undefined;
  #dkim: DKIM | undefined;

  /** `onError` hears the pool's connection errors (an unhandled `'error'` would end the process). */
  constructor(options: UpstreamOptions, onError: (err: Error) => void) {
    this.#options = options;
    this.#onError = onError;
  }

  #made(): SMTPPool {
    if (!this.#pool) {
      this.#pool = new (smtpPool())(this.#options);
      this.#pool.on('error', this.#onError);
      if (this.#options.dkim) this.#dkim = new (dkimSigner())(this.#options.dkim);
    }
    return this.#pool;
  }

  /** Sends one message; resolves with the upstream's answer, rejects with nodemailer's error. */
  send(m: Outgoing): Promise<SentInfo> {
    const pool = this.#made();
    const message = new PoolMessage(m, this.#dkim);
    return new Promise((resolve, reject) => {
      // The pool's own type asks for nodemailer's MailMessage; it reads only what PoolMessage has.
      const mail = { data: {}, message } as unknown as Parameters<SMTPPool['send']>[0];
      pool.send(mail, (err, info) => (err ? reject(err) : resolve(info as SentInfo)));
    });
  }

  /** Closes idle connections now and the others once their message is done (nothing if it never sent). */
  close(): void {
    this.#pool?.close();
  }
}
