/**
 * nodemailer and smtp-server, loaded through `require` (their CommonJS builds), never `import`, and
 * only when first used.
 *
 * Their ES builds `import … from 'node:http'` and `'node:https'` (nodemailer's URL fetcher, loaded
 * by its shared helpers whatever transport runs), and an ES import of a built-in evaluates every
 * export of its namespace: node:http's lazy getters load undici (fetch, WebSocket) and more, which
 * the sidecar never uses. Loaded through `require`, nothing past what they run is evaluated (one
 * copy of each: the subpaths below come from the same CommonJS build as the transport).
 *
 * Only when first used: an idle sidecar runs neither. nodemailer is ~700K characters of source in
 * 39 files and smtp-server ~270K with what it requires; loaded at start they cost ~10 MB of idle
 * RSS (their source, bytecode and what start-up compiles) and tens of ms of start → ready, for a
 * sidecar whose app may send one message a day. So the transport loads nodemailer with the first
 * message it sends ({@link LazyTransport}), the doors load the address parser with the first
 * message they take, and the SMTP door loads smtp-server with its first client (smtp-door.ts).
 *
 * @module
 */
import { createRequire } from 'node:module';
import type * as Nodemailer from 'nodemailer';
import type addressparserFn from 'nodemailer/lib/addressparser';
import type * as MimeFuncs from 'nodemailer/lib/mime-funcs';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type * as SmtpServer from 'smtp-server';

const require = createRequire(import.meta.url);

/** `require(id)` on the first call, the same module after. */
function lazy<T>(id: string): () => T {
  let mod: T | undefined;
  return () => {
    mod ??= require(id) as T;
    return mod;
  };
}

const nodemailer = lazy<typeof Nodemailer>('nodemailer');
const addressparserLib = lazy<typeof addressparserFn>('nodemailer/lib/addressparser');
const mimeFuncs = lazy<typeof MimeFuncs>('nodemailer/lib/mime-funcs');

/** smtp-server's module (its `SMTPServer` class), loaded on the first call. */
export const smtpServer = lazy<typeof SmtpServer>('smtp-server');

/** nodemailer's address parser (`Name <a@example.com>, …` into addresses). */
export const addressparser = ((address: string, options?: { flatten: boolean }) =>
  addressparserLib()(address, options as { flatten: false })) as typeof addressparserFn;

/** nodemailer's RFC 2047 encoded words for header values. */
export const encodeWords: typeof MimeFuncs.encodeWords = (value, encoding, maxLength) =>
  mimeFuncs().encodeWords(value, encoding, maxLength);

type Transporter = Nodemailer.Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

/** What the worker needs of a pooled transport: send a message, close the pool. */
export interface MailTransport {
  sendMail(mail: Nodemailer.SendMailOptions): Promise<SMTPPool.SentMessageInfo>;
  close(): void;
}

/**
 * A pooled nodemailer transport built (and nodemailer loaded) on the first message; closing one
 * that never sent does nothing. `onError` hears the pool's connection errors (an unhandled
 * `'error'` would end the process).
 */
export class LazyTransport implements MailTransport {
  readonly #options: SMTPPool.Options;
  readonly #onError: (err: Error) => void;
  #made: Transporter | undefined;

  constructor(options: SMTPPool.Options, onError: (err: Error) => void) {
    this.#options = options;
    this.#onError = onError;
  }

  sendMail(mail: Nodemailer.SendMailOptions): Promise<SMTPPool.SentMessageInfo> {
    if (!this.#made) {
      this.#made = nodemailer().createTransport(this.#options);
      this.#made.on('error', this.#onError);
    }
    return this.#made.sendMail(mail);
  }

  close(): void {
    this.#made?.close();
  }
}
