/**
 * Which EmailSenders exist, for the admission handler: answered from an informer cache in
 * microseconds, so the webhook adds almost nothing to a pod create. A miss is confirmed with a live
 * read, because a sender created a moment before its pods may not have reached the cache yet;
 * misses are rare (a typo, a sender not created yet) and only they pay for the round trip.
 *
 * The cache is the process's EmailSender informer: when the controller in the same process watches
 * every namespace, it is the very same one (see `KubeContext.informer`).
 *
 * A confirmed miss is remembered briefly (and forgotten at once when the informer sees that sender),
 * and concurrent misses of one name share one read, so admission reviews naming a missing sender,
 * forged or repeated, cost the API server at most one read per name per `missingTtlMs`. The table of
 * misses is bounded (least recently used go first): names are the caller's input.
 *
 * @module
 */
import { type EmailSender, GROUP, PLURAL, VERSION } from '../api/emailsender.ts';
import type { KubeContext } from '../kube/context.ts';
import { isNotFound } from '../kube/rest.ts';
import { specTransform } from '../kube/transforms.ts';
import type { Logger } from '../runtime/logger.ts';
import { LruMap } from '../runtime/lru.ts';

/** An EmailSender as the cache holds it; the webhook reads only metadata and status. */
export type CachedSender = EmailSender;

/** The sender cache. */
export interface SenderCache {
  exists(namespace: string, name: string): Promise<boolean>;
  get(namespace: string, name: string): CachedSender | undefined;
  list(): Iterable<CachedSender>;
  stop(): Promise<void>;
}

const SENDERS = { prefix: `/apis/${GROUP}/${VERSION}`, plural: PLURAL } as const;

/** Options of {@link startSenderCache}. */
export interface SenderCacheOptions {
  /**
   * How long a sender the API server said is missing is taken as missing without a new read.
   * Default 2 s: short, because a sender created in that window and not yet in the cache reads as
   * missing (a warning, or a refusal under `--webhook-strict`, which the ReplicaSet retries).
   */
  missingTtlMs?: number;
  /** The most misses remembered. Default 1000. */
  maxMissing?: number;
  /** Clock of the miss table (ms); default `Date.now`. */
  now?: () => number;
}

/** Starts watching EmailSenders in all namespaces; `onChange` sees every add, update and delete. */
export async function startSenderCache(
  kube: KubeContext,
  log: Logger,
  onChange?: (sender: CachedSender, deleted: boolean) => void,
  opts: SenderCacheOptions = {},
): Promise<SenderCache> {
  const ttlMs = opts.missingTtlMs ?? 2_000;
  const now = opts.now ?? Date.now;
  /** `namespace/name` → until when it is taken as missing. */
  const missing = new LruMap<string, number>(opts.maxMissing ?? 1000);
  /** Reads under way, so concurrent misses of one name share one. */
  const reading = new Map<string, Promise<boolean>>();
  const informer = kube.informer<EmailSender>({
    resource: SENDERS,
    transform: specTransform<EmailSender>,
  });
  informer.onChange((type, s) => {
    if (type !== 'delete') missing.delete(`${s.metadata.namespace}/${s.metadata.name}`);
    onChange?.(s, type === 'delete');
  });
  await informer.start();

  const read = async (namespace: string, name: string, key: string): Promise<boolean> => {
    try {
      await kube.rest.request(
        'GET',
        `${SENDERS.prefix}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`,
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) {
        // Unless the informer saw it arrive while the read was under way.
        if (!informer.get(namespace, name)) missing.set(key, now() + ttlMs);
        return false;
      }
      // Unknown: admit (with the sidecar) rather than fail a pod over our own read.
      log.warn({ err, sender: key }, 'could not check the EmailSender; assuming it exists');
      return true;
    }
  };
  return {
    async exists(namespace, name) {
      if (informer.get(namespace, name)) return true;
      const key = `${namespace}/${name}`;
      const until = missing.get(key);
      if (until !== undefined) {
        if (now() < until) return false;
        missing.delete(key);
      }
      let pending = reading.get(key);
      if (!pending) {
        pending = read(namespace, name, key).finally(() => reading.delete(key));
        reading.set(key, pending);
      }
      return pending;
    },
    get: (namespace, name) => informer.get(namespace, name),
    list: () => informer.list(),
    stop: () => informer.stop(),
  };
}
