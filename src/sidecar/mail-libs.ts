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
 * sidecar whose app may send one message a day. So the upstream pool loads nodemailer with the
 * first message it sends (upstream.ts), the doors load the address parser with the first
 * message they take, and the SMTP door loads smtp-server with its first client (smtp-door.ts).
 *
 * @module
 */
import { createRequire } from 'node:module';
import type addressparserFn from 'nodemailer/lib/addressparser';
import type * as Base64 from 'nodemailer/lib/base64';
import type DKIMClass from 'nodemailer/lib/dkim';
import type MailComposerClass from 'nodemailer/lib/mail-composer';
import type * as MimeFuncs from 'nodemailer/lib/mime-funcs';
import type MimeNodeClass from 'nodemailer/lib/mime-node';
import type * as Qp from 'nodemailer/lib/qp';
import type SMTPPoolClass from 'nodemailer/lib/smtp-pool';
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

/** nodemailer's pooled SMTP transport (what `createTransport({pool: true})` wraps). */
export const smtpPool = lazy<typeof SMTPPoolClass>('nodemailer/lib/smtp-pool');

/** nodemailer's MIME tree builder (what `sendMail` compiles a message with). */
export const mailComposer = lazy<typeof MailComposerClass>('nodemailer/lib/mail-composer');

/** nodemailer's MIME node (its header encoding rules). */
export const mimeNode = lazy<typeof MimeNodeClass>('nodemailer/lib/mime-node');

/** nodemailer's DKIM signer. */
export const dkimSigner = lazy<typeof DKIMClass>('nodemailer/lib/dkim');

/** nodemailer's quoted-printable and base64 body encoders. */
export const qp = lazy<Pick<typeof Qp, 'encode' | 'wrap'>>('nodemailer/lib/qp');
export const base64 = lazy<Pick<typeof Base64, 'encode' | 'wrap'>>('nodemailer/lib/base64');

/** nodemailer's header line folding. */
export const foldLines: typeof MimeFuncs.foldLines = (str, lineLength, afterSpace) =>
  mimeFuncs().foldLines(str, lineLength, afterSpace);
