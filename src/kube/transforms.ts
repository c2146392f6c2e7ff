/**
 * What informer caches keep of each object: as little as their readers use. Objects listed as
 * PartialObjectMetadata (Secrets) keep no data at all, and the last-applied-configuration
 * annotation, which holds the whole object (a Secret's data included), is dropped too.
 *
 * @module
 */

/** Accept header that makes the API server send objects as metadata only (Secrets without data). */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** An object as cached by {@link metadataTransform}: identity, version and the kept labels and annotations. */
export interface ObjectMeta {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function only(map: Record<string, string> | undefined, prefix: string): Record<string, string> | undefined {
  if (!map) return undefined;
  const kept = Object.entries(map).filter(([k]) => k.startsWith(prefix));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/**
 * Returns a transform keeping name, namespace, resourceVersion and the labels and annotations whose
 * key starts with `prefix` (e.g. `mailroom.dev/`); everything else (data included) is dropped.
 */
export const metadataTransform =
  (prefix: string) =>
  (raw: unknown): ObjectMeta => {
    const m = (raw as { metadata: ObjectMeta['metadata'] }).metadata;
    const labels = only(m.labels, prefix);
    const annotations = only(m.annotations, prefix);
    return {
      metadata: {
        name: m.name,
        namespace: m.namespace,
        ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
        ...(labels ? { labels } : {}),
        ...(annotations ? { annotations } : {}),
      },
    };
  };

const pool = new Map<string, string>();
const POOL_MAX = 50_000;

/** One copy of each short string: thousands of objects share endpoints, names of Secrets, reasons. */
function internString(value: string): string {
  if (value.length > 256) return value;
  const hit = pool.get(value);
  if (hit !== undefined) return hit;
  if (pool.size < POOL_MAX) pool.set(value, value);
  return value;
}

/**
 * Equal small objects and arrays (probe settings, Secret references, TLS facts, conditions) as one
 * frozen instance, keyed by their JSON: 10,000 senders on 10 servers hold about ten of each instead
 * of 10,000. Cleared when full, so stale entries (superseded conditions) cost at most SHARED_MAX.
 */
const shared = new Map<string, object>();
const SHARED_MAX = 4096;
const SHARED_JSON_MAX = 512;

/**
 * Shares the strings of `value` (and, with `objects`, its small objects and arrays) with those of
 * objects transformed before. It works in place on what JSON parsing just made, which nothing else
 * holds yet: a copy would cost each object its compact layout.
 */
function intern<T>(value: T, objects: boolean, depth = 0): T {
  if (typeof value === 'string') return internString(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = intern(value[i], objects, depth + 1);
  } else {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = intern(o[k], objects, depth + 1);
  }
  if (!objects) return value;
  const key = JSON.stringify(value);
  if (key.length > SHARED_JSON_MAX) return value;
  const hit = shared.get(key);
  if (hit !== undefined) return hit as T;
  if (shared.size >= SHARED_MAX) shared.clear();
  shared.set(key, Object.freeze(value));
  return value;
}

/** An object with spec and status, as {@link specTransform} keeps it. */
export interface SpecObject {
  apiVersion: string;
  kind: string;
  metadata: { annotations?: Record<string, string> };
  spec: unknown;
  status?: unknown;
}

/**
 * Drops managedFields and the last-applied annotation; keeps apiVersion, kind, metadata, spec and
 * status. Short strings are shared between objects, and so are equal parts of spec and status
 * (frozen: a cached object is read, never changed), except `status.config`, which names the
 * object's own Secret.
 */
export function specTransform<T extends SpecObject>(raw: unknown): T {
  const s = raw as T & { metadata: { managedFields?: unknown } };
  const { managedFields: _mf, ...metadata } = s.metadata;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _la, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  const status = s.status as Record<string, unknown> | undefined;
  if (status) {
    for (const k of Object.keys(status)) status[k] = intern(status[k], k !== 'config');
  }
  return {
    apiVersion: internString(s.apiVersion),
    kind: internString(s.kind),
    metadata: intern(metadata, false),
    spec: intern(s.spec, true),
    ...(status ? { status } : {}),
  } as T;
}
