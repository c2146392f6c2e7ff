/**
 * Secrets on {@link KubeRest}: their API paths, and reading one's data with a small cache keyed by
 * the resourceVersion an informer (which keeps no data) knows, so a Secret read by many objects is
 * fetched once per change rather than once per read.
 *
 * @module
 */
import { isNotFound, type KubeRest } from './rest.ts';

/** Path of the Secrets resource (for an informer). */
export const SECRETS = { prefix: '/api/v1', plural: 'secrets' } as const;

/** Path of a namespace's Secrets, or of one Secret. */
export const secretPath = (ns: string, name?: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets${name ? `/${encodeURIComponent(name)}` : ''}`;

/** A Secret as read: its uid and decoded (UTF-8) data. */
export interface SecretData {
  /** `metadata.uid`. */
  uid: string;
  /** The decoded (UTF-8) data. */
  data: Record<string, string>;
}

/** Options of {@link SecretReader}. */
export interface SecretReaderOptions {
  /**
   * The resourceVersion of a Secret as a (data-less) informer cache knows it. When given, data read
   * is kept while that version stays current.
   */
  secretVersion?(namespace: string, name: string): string | undefined;
  /** Secrets whose data is kept at most (least recently used go first). Default 1000. */
  maxCachedSecrets?: number;
  /** Longest time data is kept without being read again. Default 5 min. */
  cachedSecretTtlMs?: number;
}

interface CachedSecret extends SecretData {
  resourceVersion: string;
  at: number;
}

/** Reads Secrets, keeping recently read data while the informer says it is current. */
export class SecretReader {
  readonly #rest: KubeRest;
  readonly #o: SecretReaderOptions;
  readonly #secrets = new Map<string, CachedSecret>();

  constructor(rest: KubeRest, opts: SecretReaderOptions = {}) {
    this.#rest = rest;
    this.#o = opts;
  }

  /** A Secret's uid and decoded data, or undefined when it does not exist. */
  async read(namespace: string, name: string): Promise<SecretData | undefined> {
    const key = `${namespace}/${name}`;
    const current = this.#o.secretVersion?.(namespace, name);
    const hit = this.#secrets.get(key);
    this.#secrets.delete(key);
    const ttl = this.#o.cachedSecretTtlMs ?? 300_000;
    if (hit && current !== undefined && hit.resourceVersion === current && Date.now() - hit.at < ttl) {
      this.#secrets.set(key, hit); // most recently used last
      return { uid: hit.uid, data: hit.data };
    }
    let secret: { data?: Record<string, string>; metadata?: { resourceVersion?: string; uid?: string } };
    try {
      secret = await this.#rest.request('GET', secretPath(namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    const rv = secret.metadata?.resourceVersion;
    const uid = secret.metadata?.uid ?? '';
    if (this.#o.secretVersion && rv) {
      this.#secrets.set(key, { resourceVersion: rv, uid, data, at: Date.now() });
      for (const oldest of this.#secrets.keys()) {
        if (this.#secrets.size <= (this.#o.maxCachedSecrets ?? 1000)) break;
        this.#secrets.delete(oldest);
      }
    }
    return { uid, data };
  }
}
