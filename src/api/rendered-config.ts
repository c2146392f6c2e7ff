/**
 * The rendered config: what the controller publishes (Secret `<name>-mailroom`, key `config.json`)
 * after a successful probe, and what the sidecar sender reads from its mounted file.
 *
 * It is the last known good config: a spec change that fails its probe never reaches it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { API_VERSION, fromSchema } from './emailsender.ts';

export const RENDERED_CONFIG_KIND = 'SenderConfig';
/** Key of the rendered config in the published Secret (and file name in the mounted volume). */
export const RENDERED_CONFIG_KEY = 'config.json';
/** Name of the published Secret for an EmailSender. */
export const renderedSecretName = (senderName: string) => `${senderName}-mailroom`;

export const renderedConfigSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(RENDERED_CONFIG_KIND),
  sender: z.strictObject({ namespace: z.string(), name: z.string() }),
  /** Content hash of everything below, so readers can tell configs apart without diffing. */
  revision: z.string(),
  smtp: z.strictObject({
    /** Full URI with credentials: this file lives only in a Secret. */
    uri: z.string().min(1),
    localName: z.string().optional(),
    /** Extra trusted CA certificates (PEM), from spec.smtp.caSecretRef. */
    ca: z.string().optional(),
  }),
  from: fromSchema,
  headers: z.record(z.string(), z.string()).default({}),
  /** DKIM signing (spec.dkim with its PEM key, domain defaulted): the sidecar signs every message. */
  dkim: z
    .strictObject({ selector: z.string().min(1), domain: z.string().min(1), privateKey: z.string().min(1) })
    .optional(),
  delivery: z.strictObject({
    maxAttempts: z.int().min(1),
    maxBackoffMs: z.int().min(1),
    ratePerSecond: z.number().min(0),
  }),
});

export type RenderedConfig = z.infer<typeof renderedConfigSchema>;

/** Computes the revision of a config body: a short SHA-256 of its canonical JSON. */
export function configRevision(body: Omit<RenderedConfig, 'revision'>): string {
  const canonical = JSON.stringify(body, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
