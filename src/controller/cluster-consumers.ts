/**
 * Who uses each ClusterEmailSender, and so where its config belongs: pods the webhook injected
 * (selected by label, so the controller never caches every pod of the cluster), classified by the
 * webhook's own rule ({@link podSender}), counted per namespace; and namespaces, by their labels,
 * allowed or not by each sender's `namespaceSelector`.
 *
 * @module
 */
import { type LabelSelector, matchesSelector } from '../api/label-selector.ts';
import { isLive, type PodLike, podSender } from '../webhook/pod-sender.ts';

/** A pod as cached: what {@link podSender} and {@link isLive} read, nothing more. */
export interface PodMeta extends PodLike {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
}

/** A Namespace as cached: its labels. */
export interface NamespaceMeta {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
}

const ours = (m: Record<string, string> | undefined) => {
  const kept = Object.entries(m ?? {}).filter(([k]) => k.startsWith('mailroom.dev/'));
  return kept.length ? Object.fromEntries(kept) : undefined;
};

/** Keeps identity, `mailroom.dev/*` annotations, the config volume and the phase. */
export function podTransform(raw: unknown): PodMeta {
  const p = raw as PodMeta;
  const annotations = ours(p.metadata.annotations);
  const volumes = (p.spec?.volumes ?? [])
    .filter((v) => v.secret?.secretName)
    .map((v) => ({ name: v.name, secret: { secretName: v.secret!.secretName! } }));
  return {
    metadata: {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      ...(p.metadata.resourceVersion ? { resourceVersion: p.metadata.resourceVersion } : {}),
      ...(annotations ? { annotations } : {}),
    },
    spec: { volumes },
    ...(p.status?.phase ? { status: { phase: p.status.phase } } : {}),
  };
}

/** Keeps name, resourceVersion and labels (selectors read every label, not only ours). */
export function namespaceTransform(raw: unknown): NamespaceMeta {
  const n = raw as NamespaceMeta;
  return {
    metadata: {
      name: n.metadata.name,
      ...(n.metadata.resourceVersion ? { resourceVersion: n.metadata.resourceVersion } : {}),
      ...(n.metadata.labels ? { labels: n.metadata.labels } : {}),
    },
  };
}

/** Where a ClusterEmailSender's config belongs now. */
export interface ClusterTargets {
  /** Allowed namespaces with live consumers, sorted. */
  namespaces: string[];
  /** Live pods using the sender, in every namespace (allowed or not). */
  consumers: number;
}

/**
 * Live consumer pods of each ClusterEmailSender, per namespace, kept up to date from pod changes.
 * `update` returns the senders whose consumers changed, to reconcile them.
 */
export class ClusterConsumers {
  /** pod key → the sender it counts for. */
  readonly #byPod = new Map<string, { sender: string; namespace: string }>();
  /** sender → namespace → live pods. */
  readonly #counts = new Map<string, Map<string, number>>();

  /** Records a pod's add, update or delete; returns the senders whose counts changed. */
  update(type: 'add' | 'update' | 'delete', pod: PodMeta): string[] {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const before = this.#byPod.get(key);
    const s = type === 'delete' || !isLive(pod) ? undefined : podSender(pod);
    const after =
      s?.kind === 'ClusterEmailSender' ? { sender: s.name, namespace: pod.metadata.namespace } : undefined;
    if (before?.sender === after?.sender) return [];
    if (before) {
      this.#byPod.delete(key);
      this.#add(before.sender, before.namespace, -1);
    }
    if (after) {
      this.#byPod.set(key, after);
      this.#add(after.sender, after.namespace, 1);
    }
    return [before?.sender, after?.sender].filter((n): n is string => n !== undefined);
  }

  #add(sender: string, namespace: string, delta: number): void {
    const perNs = this.#counts.get(sender) ?? new Map<string, number>();
    const n = (perNs.get(namespace) ?? 0) + delta;
    if (n > 0) perNs.set(namespace, n);
    else perNs.delete(namespace);
    if (perNs.size) this.#counts.set(sender, perNs);
    else this.#counts.delete(sender);
  }

  /** Namespaces with live consumers of `sender`, and how many. */
  of(sender: string): ReadonlyMap<string, number> {
    return this.#counts.get(sender) ?? new Map();
  }
}

/**
 * Where the config of a sender with `selector` belongs: namespaces that exist, are allowed by the
 * selector and have consumers. Pure.
 *
 * @example
 * clusterTargets({ matchLabels: { team: 'a' } }, new Map([['apps', 2]]), (ns) => ({ team: 'a' }));
 * // { namespaces: ['apps'], consumers: 2 }
 */
export function clusterTargets(
  selector: LabelSelector | undefined,
  consumers: ReadonlyMap<string, number>,
  /** A namespace's labels; undefined when it does not exist. */
  labelsOf: (namespace: string) => Record<string, string> | undefined,
): ClusterTargets {
  let total = 0;
  const namespaces: string[] = [];
  for (const [ns, n] of consumers) {
    total += n;
    const labels = labelsOf(ns);
    if (labels && matchesSelector(selector, labels)) namespaces.push(ns);
  }
  return { namespaces: namespaces.sort(), consumers: total };
}
