/**
 * Which EmailSenders exist, for the admission handler: answered from a watch cache in microseconds,
 * so the webhook adds almost nothing to a pod create. A miss is confirmed with a live read, because
 * a sender created a moment before its pods may not have reached the cache yet; misses are rare
 * (a typo, a sender not created yet) and only they pay for the round trip.
 *
 * @module
 */
import type {
  CustomObjectsApi,
  KubeConfig,
  KubernetesListObject,
  KubernetesObject,
} from '@kubernetes/client-node';
import { type EmailSenderStatus, GROUP, PLURAL, VERSION } from '../api/emailsender.ts';
import type { Logger } from '../runtime/logger.ts';
import { statusOf } from './kube.ts';
import { type RunningWatch, startWatch } from './watch.ts';

/** An EmailSender as the cache holds it: only metadata and status are read. */
export type CachedSender = KubernetesObject & { status?: EmailSenderStatus };

/** The sender cache. */
export interface SenderCache {
  exists(namespace: string, name: string): Promise<boolean>;
  get(namespace: string, name: string): CachedSender | undefined;
  list(): ReadonlyArray<CachedSender>;
  stop(): Promise<void>;
}

/** Starts watching EmailSenders in all namespaces; `onChange` sees every add, update and delete. */
export async function startSenderCache(
  kc: KubeConfig,
  custom: CustomObjectsApi,
  log: Logger,
  onChange?: (sender: CachedSender, deleted: boolean) => void,
): Promise<SenderCache> {
  const watch: RunningWatch<CachedSender> = await startWatch<CachedSender>({
    kc,
    path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
    list: async () =>
      (await custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
      })) as KubernetesListObject<CachedSender>,
    onChange: (s, deleted) => onChange?.(s, deleted),
    log,
  });
  return {
    async exists(namespace, name) {
      if (watch.get(name, namespace)) return true;
      try {
        await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          name,
        });
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        // Unknown: admit (with the sidecar) rather than fail a pod over our own read.
        log.warn(
          { err, sender: `${namespace}/${name}` },
          'could not check the CachedSender; assuming it exists',
        );
        return true;
      }
    },
    get: (namespace, name) => watch.get(name, namespace),
    list: () => watch.list(),
    stop: () => watch.stop(),
  };
}
