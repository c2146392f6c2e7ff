/**
 * Which EmailSenders exist, for the admission handler: answered from an informer cache in
 * microseconds, so the webhook adds almost nothing to a pod create. A miss is confirmed with a live
 * read, because a sender created a moment before its pods may not have reached the cache yet;
 * misses are rare (a typo, a sender not created yet) and only they pay for the round trip.
 *
 * The cache is the process's EmailSender informer: when the controller in the same process watches
 * every namespace, it is the very same one (see `KubeContext.informer`).
 *
 * @module
 */
import { type EmailSender, GROUP, PLURAL, VERSION } from '../api/emailsender.ts';
import type { KubeContext } from '../kube/context.ts';
import { isNotFound } from '../kube/rest.ts';
import { specTransform } from '../kube/transforms.ts';
import type { Logger } from '../runtime/logger.ts';

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

/** Starts watching EmailSenders in all namespaces; `onChange` sees every add, update and delete. */
export async function startSenderCache(
  kube: KubeContext,
  log: Logger,
  onChange?: (sender: CachedSender, deleted: boolean) => void,
): Promise<SenderCache> {
  const informer = kube.informer<EmailSender>({
    resource: SENDERS,
    transform: specTransform<EmailSender>,
  });
  if (onChange) informer.onChange((type, s) => onChange(s, type === 'delete'));
  await informer.start();
  return {
    async exists(namespace, name) {
      if (informer.get(namespace, name)) return true;
      try {
        await kube.rest.request(
          'GET',
          `${SENDERS.prefix}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`,
        );
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        // Unknown: admit (with the sidecar) rather than fail a pod over our own read.
        log.warn(
          { err, sender: `${namespace}/${name}` },
          'could not check the EmailSender; assuming it exists',
        );
        return true;
      }
    },
    get: (namespace, name) => informer.get(namespace, name),
    list: () => informer.list(),
    stop: () => informer.stop(),
  };
}
