/**
 * Whether a ClusterEmailSender exists and allows a namespace, for the admission handler: answered
 * from informer caches of ClusterEmailSenders and Namespaces (labels), so an opt-in pod costs no API
 * round trip. A miss is confirmed with a live read, as for EmailSenders (`senders.ts`).
 *
 * The caches are the process's: with the controller in the same process, the very informers its
 * ClusterEmailSender reconcile watches (see `KubeContext.informer`).
 *
 * @module
 */
import {
  CLUSTER_PLURAL,
  type ClusterEmailSender,
  clusterEmailSenderSpecSchema,
} from '../api/clusteremailsender.ts';
import { GROUP, VERSION } from '../api/emailsender.ts';
import { matchesSelector } from '../api/label-selector.ts';
import { type NamespaceMeta, namespaceTransform } from '../controller/cluster-consumers.ts';
import type { KubeContext } from '../kube/context.ts';
import { isNotFound } from '../kube/rest.ts';
import { specTransform } from '../kube/transforms.ts';
import type { Logger } from '../runtime/logger.ts';

/** The answer for one pod. */
export type ClusterSenderAccess = 'allowed' | 'notAllowed' | 'missing';

/** The caches behind {@link ClusterSenderAccess}. */
export interface ClusterSenderCache {
  access(name: string, namespace: string): Promise<ClusterSenderAccess>;
  stop(): Promise<void>;
}

const CLUSTER_SENDERS = { prefix: `/apis/${GROUP}/${VERSION}`, plural: CLUSTER_PLURAL } as const;
const NAMESPACES = { prefix: '/api/v1', plural: 'namespaces' } as const;

/** Starts watching ClusterEmailSenders and Namespaces. */
export async function startClusterSenderCache(kube: KubeContext, log: Logger): Promise<ClusterSenderCache> {
  const senders = kube.informer<ClusterEmailSender>({
    resource: CLUSTER_SENDERS,
    transform: specTransform as unknown as (raw: unknown) => ClusterEmailSender,
  });
  const namespaces = kube.informer<NamespaceMeta>({ resource: NAMESPACES, transform: namespaceTransform });
  await Promise.all([senders.start(), namespaces.start()]);

  const senderOf = async (name: string): Promise<ClusterEmailSender | undefined> => {
    const cached = senders.get('', name);
    if (cached) return cached;
    try {
      return await kube.rest.request<ClusterEmailSender>(
        'GET',
        `${CLUSTER_SENDERS.prefix}/${CLUSTER_PLURAL}/${encodeURIComponent(name)}`,
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  const labelsOf = async (namespace: string): Promise<Record<string, string>> => {
    const cached = namespaces.get('', namespace);
    if (cached) return cached.metadata.labels ?? {};
    const ns = await kube.rest.request<NamespaceMeta>(
      'GET',
      `${NAMESPACES.prefix}/namespaces/${encodeURIComponent(namespace)}`,
    );
    return ns.metadata.labels ?? {};
  };

  return {
    async access(name, namespace) {
      try {
        const sender = await senderOf(name);
        if (!sender) return 'missing';
        // The CRD validated the spec; a spec the schema refuses selects nothing.
        const spec = clusterEmailSenderSpecSchema.safeParse(sender.spec);
        if (!spec.success) return 'notAllowed';
        return matchesSelector(spec.data.namespaceSelector, await labelsOf(namespace))
          ? 'allowed'
          : 'notAllowed';
      } catch (err) {
        // Unknown: admit with the sidecar rather than fail a pod over our own read; the controller
        // publishes no config where the selector does not allow it, whatever the webhook decided.
        log.warn(
          { err, clusterSender: name, namespace },
          'could not check the ClusterEmailSender; admitting',
        );
        return 'allowed';
      }
    },
    async stop() {
      await Promise.all([senders.stop(), namespaces.stop()]);
    },
  };
}
