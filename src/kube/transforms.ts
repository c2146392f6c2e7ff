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

/**
 * One copy of each short string: thousands of objects share endpoints, messages and defaults, and
 * JSON parsing gives each its own copy. Bounded: past {@link POOL_MAX} distinct
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
 * status (short strings shared between objects).
 */
export function specTransform<T extends SpecObject>(raw: unknown): T {
  const s = raw as T & { metadata: { managedFields?: unknown } };
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
  }) as T;
}
