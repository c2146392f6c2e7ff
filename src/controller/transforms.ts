/**
 * What the informer caches keep of each object: as little as the controller reads. Secrets keep
 * no data at all (they are listed and watched as PartialObjectMetadata, and the
 * last-applied-configuration annotation, which holds the whole Secret, is dropped too).
 *
 * @module
 */
import type { EmailSender } from '../api/emailsender.ts';

/** Accept header that makes the API server send Secrets without data. */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** A Secret as cached: identity, version and Mailroom's own labels and annotations. */
export interface SecretMeta {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function ours(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!map) return undefined;
  const kept = Object.entries(map).filter(([k]) => k.startsWith('mailroom.dev/'));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/** Keeps name, namespace, resourceVersion and `mailroom.dev/*` labels and annotations. */
export function secretTransform(raw: unknown): SecretMeta {
  const m = (raw as { metadata: SecretMeta['metadata'] }).metadata;
  const labels = ours(m.labels);
  const annotations = ours(m.annotations);
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    },
  };
}

const pool = new Map<string, string>();
const POOL_MAX = 50_000;

/**
 * One copy of each short string: thousands of senders share endpoints, probe facts, messages and
 * defaults, and JSON parsing gives each its own copy. Bounded: past {@link POOL_MAX} distinct
 * strings, new ones are kept as they come.
 */
function intern<T>(value: T, depth = 0): T {
  if (typeof value === 'string') {
    if (value.length > 256) return value;
    const hit = pool.get(value);
    if (hit !== undefined) return hit as T;
    if (pool.size < POOL_MAX) pool.set(value, value);
    return value;
  }
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => intern(v, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = intern(v, depth + 1);
  return out as T;
}

/** Drops managedFields and the last-applied annotation; keeps spec and status (strings shared). */
export function senderTransform(raw: unknown): EmailSender {
  const s = raw as EmailSender & { metadata: { managedFields?: unknown } };
  const { managedFields: _mf, ...metadata } = s.metadata;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _la, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  return intern({
    apiVersion: s.apiVersion,
    kind: s.kind,
    metadata,
    spec: s.spec,
    ...(s.status ? { status: s.status } : {}),
  });
}
