/**
 * `status.consumers` of each EmailSender: how many live pods use it, so `kubectl get` shows who
 * depends on a sender before anyone changes it.
 *
 * Counts pods the webhook injected (selected by label, so the process does not cache every pod of
 * the cluster, and keeps only what it counts of each) that have not finished, grouped by the
 * sender their `mailroom.dev/sender` annotation names (an edited annotation moves the pod's count). Writes only the one field, with a merge patch on the status
 * subresource, and only when it differs; the reconciler carries the field over when it writes the
 * rest of the status, and its writes are guarded by resourceVersion, so neither loses the other's
 * update.
 *
 * @module
 */
import type { V1Pod } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../api/emailsender.ts';
import type { KubeContext } from '../kube/context.ts';
import type { Informer } from '../kube/informer.ts';
import type { Logger } from '../runtime/logger.ts';
import { INJECTED_LABEL, SENDER_ANNOTATION } from './constants.ts';
import { type AdmittedPod, admittedPodOf } from './events.ts';
import { statusOf } from './kube.ts';
import type { CachedSender, SenderCache } from './senders.ts';

/** Options of {@link startConsumerCount}. */
export interface ConsumerCountOptions {
  kube: KubeContext;
  senders: SenderCache;
  log: Logger;
  /** Sees every injected pod added or changed (admissions are confirmed by these). */
  onPod?(pod: AdmittedPod): void;
  /** Coalesce changes for this long before writing. Default 500 ms. */
  debounceMs?: number;
}

/** The running counter; `touch` re-checks one sender (its status changed). */
export interface ConsumerCount {
  touch(sender: CachedSender): void;
  /** Pods counted now for `namespace/name`. */
  count(namespace: string, name: string): number;
  stop(): Promise<void>;
}

/** An injected pod as cached: which sender it uses (`namespace/name`) while it is live. */
interface InjectedPod {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  /** `namespace/name` of its sender; absent once the pod finished or when it names none. */
  uses?: string;
  /** What a missing-sender Event needs of it (see `admittedPodOf`). */
  admitted?: AdmittedPod;
}

const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

function podTransform(raw: unknown): InjectedPod {
  const p = raw as V1Pod;
  const { name = '', namespace, resourceVersion } = p.metadata ?? {};
  const live = p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
  const sender = live ? p.metadata?.annotations?.[SENDER_ANNOTATION] : undefined;
  const admitted = admittedPodOf(p);
  return {
    metadata: { name, ...(namespace ? { namespace } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
    ...(sender ? { uses: keyOf(namespace, sender) } : {}),
    ...(admitted ? { admitted } : {}),
  };
}

/** Watches injected pods and keeps every EmailSender's `status.consumers` equal to their count. */
export async function startConsumerCount(o: ConsumerCountOptions): Promise<ConsumerCount> {
  const dirty = new Set<string>();
  const counts = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let stopped = false;

  const count = (namespace: string, name: string): number => counts.get(keyOf(namespace, name)) ?? 0;
  const add = (key: string | undefined, by: number): void => {
    if (!key) return;
    const n = (counts.get(key) ?? 0) + by;
    if (n > 0) counts.set(key, n);
    else counts.delete(key);
    mark(key);
  };

  const flush = async (): Promise<void> => {
    timer = undefined;
    const keys = [...dirty];
    dirty.clear();
    for (const key of keys) {
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const sender = o.senders.get(namespace, name);
      if (!sender) continue; // pods of a missing sender count once it exists (its add event marks it)
      const n = count(namespace, name);
      // Absent means none: a sender nobody used never gets a write.
      if ((sender.status?.consumers ?? 0) === n) continue;
      try {
        await o.kube.rest.request(
          'PATCH',
          `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}/status`,
          { body: { status: { consumers: n } }, contentType: 'application/merge-patch+json' },
        );
      } catch (err) {
        if (statusOf(err) === 404 || stopped) continue;
        o.log.warn({ err, sender: key }, 'could not write status.consumers; retrying');
        mark(key);
      }
    }
  };
  const mark = (key: string): void => {
    dirty.add(key);
    if (!timer && !stopped) {
      timer = setTimeout(() => {
        flushing = flush().finally(() => {
          flushing = undefined;
        });
      }, o.debounceMs ?? 500);
    }
  };

  const pods: Informer<InjectedPod> = o.kube.informer<InjectedPod>({
    resource: { prefix: '/api/v1', plural: 'pods' },
    labelSelector: `${INJECTED_LABEL}=true`,
    transform: podTransform,
  });
  pods.onChange((type, pod, old) => {
    if (type !== 'delete' && pod.admitted) o.onPod?.(pod.admitted);
    if (type === 'update' && old?.uses === pod.uses) return;
    if (old) add(old.uses, -1);
    if (type !== 'delete') add(pod.uses, +1);
  });
  await pods.start();
  for (const s of o.senders.list()) mark(keyOf(s.metadata.namespace, s.metadata.name));

  return {
    touch: (s) => mark(keyOf(s.metadata.namespace, s.metadata.name)),
    count,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await flushing;
      await pods.stop();
    },
  };
}
