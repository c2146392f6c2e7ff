/**
 * The rendered config: what the controller publishes (Secret `<name>-mailroom`, key `config.json`)
 * after a successful probe, and what the sidecar sender reads from its mounted file.
 *
 * It is the last known good config: a spec change that fails its probe never reaches it.
 *
 * @module
 */
import * as z from 'zod';
import { canonicalJson } from '../runtime/canonical-json.ts';
import { API_VERSION, fromSchema, headerNameSchema, headerValueSchema } from './message-fields.ts';
import { caBundleSchema, dkimPrivateKeySchema, smtpUriSchema } from './secret-values.ts';

export const RENDERED_CONFIG_KIND = 'SenderConfig';
/** Key of the rendered config in the published Secret (and file name in the mounted volume). */
export const RENDERED_CONFIG_KEY = 'config.json';
/** Name of the published Secret for an EmailSender. */
export const renderedSecretName = (senderName: string) => `${senderName}-mailroom`;

/**
 * The rendered config. Built from the API's own schemas, and parsing it parses what the Secrets
 * held: `smtp.uri` comes out as an {@link SmtpUri} (endpoint and warnings), the CA bundle and the DKIM
 * key checked. The controller writes its input form ({@link RenderedConfig}); the sidecar reads the
 * output form ({@link LoadedConfig}).
 */
export const renderedConfigSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(RENDERED_CONFIG_KIND),
  sender: z.strictObject({ namespace: z.string(), name: z.string() }),
  /** Keyed content hash of everything below (see {@link configRevision}). */
  revision: z.string(),
  smtp: z.strictObject({
    /** Full URI with credentials: this file lives only in a Secret. */
    uri: smtpUriSchema,
    localName: z.string().optional(),
    /** Extra trusted CA certificates (PEM), from spec.smtp.caSecretRef. */
    ca: caBundleSchema.optional(),
  }),
  from: fromSchema,
  headers: z.record(headerNameSchema, headerValueSchema).default({}),
  /** DKIM signing (spec.dkim with its PEM key, domain defaulted): the sidecar signs every message. */
  dkim: z
    .strictObject({
      selector: z.string().min(1),
      domain: z.string().min(1),
      privateKey: dkimPrivateKeySchema,
    })
    .optional(),
  delivery: z.strictObject({
    maxAttempts: z.int().min(1),
    maxBackoffMs: z.int().min(1),
    ratePerSecond: z.number().min(0),
  }),
});

/**
 * The message of an issue, with zod's wrapper of a refused record key ("Invalid key in record")
 * replaced by what was wrong with the key.
 */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key' && issue.issues[0]) return issue.issues[0].message;
  return issue.message;
}

/** The rendered config as the controller writes it (the URI as text). */
export type RenderedConfig = z.input<typeof renderedConfigSchema>;
/** The rendered config as a reader gets it: the URI parsed, the CA bundle and the DKIM key checked. */
export type LoadedConfig = z.output<typeof renderedConfigSchema>;
export type { SmtpUri } from './secret-values.ts';

/**
 * Computes the revision of a config body: a short HMAC-SHA256 of its canonical JSON, keyed by
 * `key`. It changes whenever any content changes, a password-only rotation included, so the
 * controller republishes and the sidecar reloads.
 *
 * The revision is public (EmailSender `status.config.revision` and `desiredRevision`, events, the
 * sidecar's metrics and page), while the body holds the SMTP password and the DKIM private key.
 * An unkeyed hash would let anyone who reads EmailSenders test password guesses offline against
 * it (everything else in the body is in the spec or status). So the key must be something those
 * readers cannot see: the controller uses the `metadata.uid`s of the Secrets the config was read
 * from (a random UUID that only those who can read the Secret, and so the password, learn). It is
 * stable across controller restarts (no needless republish) and changes only when a Secret is
 * recreated, which republishes once. Configs that are never published (the sidecar's flags) may
 * use a random per-process key.
 *
 * @example
 * const revision = configRevision(body, [uriSecretUid, dkimSecretUid].join('/'));
 */
export function configRevision(body: Omit<RenderedConfig, 'revision'>, key: string | Uint8Array): string {
  if (key.length === 0) throw new Error('configRevision needs a key that readers of the revision cannot see');
  // node:crypto, not an import: a sidecar reading a config file never computes a revision, and
  // loading node:crypto costs it ~4 MB resident.
  return process
    .getBuiltinModule('node:crypto')
    .createHmac('sha256', key)
    .update(canonicalJson(body))
    .digest('hex')
    .slice(0, 16);
}
