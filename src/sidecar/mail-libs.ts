/**
 * nodemailer and smtp-server, loaded through `require` (their CommonJS builds), never `import`.
 *
 * Their ES builds `import … from 'node:http'` and `'node:https'` (nodemailer's URL fetcher, loaded
 * by its shared helpers whatever transport runs), and an ES import of a built-in evaluates every
 * export of its namespace: node:http's lazy getters load undici (fetch, WebSocket) and more, which
 * the sidecar never uses. Loaded through `require`, nothing past what they run is evaluated (one
 * copy of each: the subpaths below come from the same CommonJS build as the transport).
 *
 * @module
 */
import { createRequire } from 'node:module';
import type * as Nodemailer from 'nodemailer';
import type addressparserFn from 'nodemailer/lib/addressparser';
import type * as MimeFuncs from 'nodemailer/lib/mime-funcs';
import type * as SmtpServer from 'smtp-server';

const require = createRequire(import.meta.url);

/** nodemailer's `createTransport`. */
export const createTransport: typeof Nodemailer.createTransport = (require('nodemailer') as typeof Nodemailer)
  .createTransport;

/** nodemailer's address parser (`Name <a@example.com>, …` into addresses). */
export const addressparser: typeof addressparserFn = require('nodemailer/lib/addressparser');

/** nodemailer's RFC 2047 encoded words for header values. */
export const encodeWords: typeof MimeFuncs.encodeWords = (
  require('nodemailer/lib/mime-funcs') as typeof MimeFuncs
).encodeWords;

/** smtp-server's server class (the SMTP door). */
export const SMTPServer: typeof SmtpServer.SMTPServer = (require('smtp-server') as typeof SmtpServer)
  .SMTPServer;

/** A server instance of {@link SMTPServer}. */
export type SMTPServerInstance = SmtpServer.SMTPServer;
