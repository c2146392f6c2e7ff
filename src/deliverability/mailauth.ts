/**
 * The parts of mailauth the checks use (SPF, DMARC, DKIM sign and verify), loaded on first use and
 * one by one: `import 'mailauth'` loads every part (ARC, BIMI with its HTTP client, …), ~24 MB of
 * resident memory against ~14 MB for these, and a process whose senders are never checked needs none.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type * as Mailauth from 'mailauth';

const require = createRequire(import.meta.url);

/** mailauth's `spf`. */
export const spf: typeof Mailauth.spf = (...args) =>
  (require('mailauth/lib/spf/index.js') as Pick<typeof Mailauth, 'spf'>).spf(...args);

/** mailauth's `dmarc`. */
export const dmarc: typeof Mailauth.dmarc = (...args) =>
  (require('mailauth/lib/dmarc/index.js') as Pick<typeof Mailauth, 'dmarc'>).dmarc(...args);

/** mailauth's `dkimSign`. */
export const dkimSign: typeof Mailauth.dkimSign = (...args) =>
  (require('mailauth/lib/dkim/sign.js') as Pick<typeof Mailauth, 'dkimSign'>).dkimSign(...args);

/** mailauth's `dkimVerify`. */
export const dkimVerify: typeof Mailauth.dkimVerify = (...args) =>
  (require('mailauth/lib/dkim/verify.js') as Pick<typeof Mailauth, 'dkimVerify'>).dkimVerify(...args);
