/**
 * `status.consumers` of each EmailSender: how many live pods use it, so `kubectl get` shows who
 * depends on a sender before anyone changes it.
 *
 * Counts pods the webhook injected (selected by label, so the controller does not cache every pod of
 * the cluster) that have not finished, grouped by the sender whose config they mount. Writes only
 * the one field, with a merge patch on the status subresource, and only when it differs; the
 * reconciler carries the field over when it writes the rest of the status, and its writes are
 * guarded by resourceVersion, so neither loses the other's update.
 *
 * @module
 */
import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../api/emailsender.ts';
import { renderedSecretName } from '../api/rendered-config.ts';
import type { Logger } from '../runtime/logger.ts';
import { INJECTED_LABEL, SENDER_ANNOTATION, VOLUMES } from './constants.ts';
import { statusOf } from './kube.ts';
import type { CachedSender, SenderCache } from './senders.ts';
import { type RunningWatch, startWatch } from './watch.ts';

/** Options of {@link startConsumerCount}. */
export interface ConsumerCountOptions {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  senders: SenderCache;
  log: Logger;
  /** Sees every injected pod added or changed (admissions are confirmed by these). */
  onPod?(pod: V1Pod): void;
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

const live = (p: V1Pod) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

/**
 * The sender a pod uses: the one whose config Secret its sidecar mounts (the annotation can be edited
 * after admission; the spec cannot), else its annotation.
 */
function senderOf(p: V1Pod): string | undefined {
  const secret = p.spec?.volumes?.find((v) => v.name === VOLUMES.config)?.secret?.secretName;
  if (secret?.endsWith(SUFFIX)) return secret.slice(0, -SUFFIX.length);
  return p.metadata?.annotations?.[SENDER_ANNOTATION];
}
const SUFFIX = renderedSecretName('');
const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

/** Watches injected pods and keeps every EmailSender's `status.consumers` equal to their count. */
export async function startConsumerCount(o: ConsumerCountOptions): Promise<ConsumerCount> {
  const dirty = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let pods: RunningWatch<V1Pod> | undefined;
  let stopped = false;

  const count = (namespace: string, name: string): number =>
    (pods?.list(namespace) ?? []).filter(
      (p) => live(p) && p.metadata?.annotations?.[SENDER_ANNOTATION] === name,
    ).length;

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
        await o.custom.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            plural: PLURAL,
            namespace,
            name,
            body: { status: { consumers: n } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
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

  pods = await startWatch<V1Pod>({
    kc: o.kc,
    path: '/api/v1/pods',
    labelSelector: `${INJECTED_LABEL}=true`,
    list: () => o.core.listPodForAllNamespaces({ labelSelector: `${INJECTED_LABEL}=true` }),
    onChange: (pod, deleted) => {
      const name = senderOf(pod);
      if (name) mark(keyOf(pod.metadata?.namespace, name));
      if (!deleted) o.onPod?.(pod);
    },
    log: o.log,
  });
  for (const s of o.senders.list()) if (s.metadata?.name) mark(keyOf(s.metadata.namespace, s.metadata.name));

  return {
    touch: (s) => {
      if (s.metadata?.name) mark(keyOf(s.metadata.namespace, s.metadata.name));
    },
    count,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await flushing;
      await pods?.stop();
    },
  };
}
