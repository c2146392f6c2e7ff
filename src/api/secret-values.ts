/**
 * The values Mailroom reads from Secrets, each parsed once at the edge into what the rest of the
 * code carries: the SMTP URI into its endpoint, the CA bundle into certificates, the DKIM key into an
 * RSA signing key. The controller's steps, `mailroom validate` and the sidecar's config loader all
 * parse through these schemas, so each rule lives here and nowhere else.
 *
 * Their issue messages never quote the value (it is a secret, or holds one).
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import * as z from 'zod';
import { loadPrivateKey } from '../deliverability/dkim-key.ts';
import { parsePemBundle } from '../smtp/trust.ts';
import {
  InvalidUriError,
  type ParsedUri,
  parseSmtpUri,
  type SmtpEndpoint,
  type UriField,
  type UriWarning,
} from '../smtp/uri.ts';

/** An SMTP URI as read from its Secret and parsed: the text (to publish) and the endpoint it names. */
export interface SmtpUri extends ParsedUri {
  /** The URI, trimmed: a secret (it holds the password). */
  text: string;
  endpoint: SmtpEndpoint;
  warnings: UriWarning[];
}

/**
 * The URI text in, {@link SmtpUri} out. A refused URI is one issue whose message names the part and
 * the kind of character ({@link InvalidUriError}) and whose `params.field` names the part.
 */
export const smtpUriSchema = z.string().transform((text, ctx): SmtpUri => {
  try {
    return { text: text.trim(), ...parseSmtpUri(text) };
  } catch (err) {
    if (!(err instanceof InvalidUriError)) throw err;
    ctx.issues.push({ code: 'custom', message: err.message, input: '', params: { field: err.field } });
    return z.NEVER;
  }
});

/** The URI part a refusal from {@link smtpUriSchema} points at. */
export function uriFieldOf(issue: z.core.$ZodIssue): UriField | undefined {
  const field = (issue as { params?: { field?: unknown } }).params?.field;
  return typeof field === 'string' ? (field as UriField) : undefined;
}

/** A PEM bundle of CA certificates, checked to hold at least one; carried as its PEM text. */
export const caBundleSchema = z.string().superRefine((pem, ctx) => {
  try {
    parsePemBundle(pem, 'the CA bundle');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/**
 * Parses a DKIM private key the sidecar can sign with: PEM, RSA (nodemailer's DKIM signer takes RSA
 * keys only). Errors name what was expected, never the key.
 */
export function loadDkimSigningKey(pem: string): KeyObject {
  const key = loadPrivateKey(pem);
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error('the sidecar signs with RSA keys only (make one with mailroom dkim keygen)');
  return key;
}

/** A DKIM private key (PEM), checked by {@link loadDkimSigningKey}; carried as its PEM text. */
export const dkimPrivateKeySchema = z.string().superRefine((pem, ctx) => {
  try {
    loadDkimSigningKey(pem);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
