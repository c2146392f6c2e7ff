/**
 * The controller's ClusterEmailSender side: their informer, and what decides where their config
 * goes (namespace labels, injected pods, the copies already published), fed into the one work queue
 * as `name` keys. The reconcile itself is the EmailSenders' (`createReconciler` with the
 * ClusterEmailSender kind); this only watches and indexes.
 *
 * @module
 */
import { type ClusterEmailSender, clusterRenderedSecretName } from '../api/clusteremailsender.ts';
import type { Informer, InformerOptions, KubeObject } from '../kube/informer.ts';
import type { WorkQueue } from '../kube/queue.ts';
import type { ObjectMeta } from '../kube/transforms.ts';
import { canonicalJson } from '../runtime/canonical-json.ts';
import { INJECTED_LABEL } from '../webhook/constants.ts';
import {
  ClusterConsumers,
  clusterTargets,
  type NamespaceMeta,
  namespaceTransform,
  type PodMeta,
  podTransform,
} from './cluster-consumers.ts';
import {
  CLUSTER_SENDER_LABEL,
  CLUSTER_SENDERS,
  NAMESPACES,
  PODS,
  PUBLISHED_AT_ANNOTATION,
  REVISION_ANNOTATION,
  senderTransform,
} from './kube.ts';
import type { SecretIndex } from './secret-index.ts';
import { senderChangeNeedsReconcile } from './sync.ts';
import type { ClusterDeps, PublishedConfig } from './types.ts';

/** Options of {@link ClusterSenders}. */
export interface ClusterSendersOptions {
  /** Makes an informer on the process's client layer (REST client, log, idle timeout). */
  informer<T extends KubeObject>(o: Omit<InformerOptions<T>, 'rest' | 'log'>): Informer<T>;
  /** Only ClusterEmailSenders with these labels (sharding). */
  labelSelector?: string;
  /** Where their Secrets live. */
  clusterResourceNamespace: string;
  queue: WorkQueue;
  /** The Secret → senders index shared with EmailSenders. */
  index: SecretIndex;
  /** The Secret cache (metadata only), to tell copies from foreign Secrets. */
  secrets: Informer<ObjectMeta>;
}

/** ClusterEmailSenders, their consumers and their copies, watched. */
export class ClusterSenders {
  readonly senders: Informer<ClusterEmailSender>;
  /** Namespace labels, for `namespaceSelector`. */
  readonly namespaces: Informer<NamespaceMeta>;
  /** Pods the webhook injected (label `mailroom.dev/injected=true`): the consumers. */
  readonly pods: Informer<PodMeta>;
  readonly #o: ClusterSendersOptions;
  readonly #consumers = new ClusterConsumers();
  /** ClusterEmailSender name → namespaces holding a copy of its config (from the Secret cache). */
  readonly #copies = new Map<string, Map<string, PublishedConfig>>();

  constructor(o: ClusterSendersOptions) {
    this.#o = o;
    // Cluster-scoped senders, and consumers in every namespace.
    const all = { namespaces: [] };
    this.senders = o.informer<ClusterEmailSender>({
      ...all,
      resource: CLUSTER_SENDERS,
      // The same transform as EmailSenders': it keeps spec and status, drops managedFields.
      transform: senderTransform as unknown as (raw: unknown) => ClusterEmailSender,
      ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
    });
    this.namespaces = o.informer<NamespaceMeta>({
      ...all,
      resource: NAMESPACES,
      transform: namespaceTransform,
    });
    this.pods = o.informer<PodMeta>({
      ...all,
      resource: PODS,
      labelSelector: `${INJECTED_LABEL}=true`,
      transform: podTransform,
    });
    this.#wire();
  }

  /** The informers, for health checks, start and stop. */
  get informers(): Pick<Informer<KubeObject>, 'start' | 'stop' | 'silenceMs' | 'synced' | 'resource'>[] {
    return [this.senders, this.namespaces, this.pods];
  }

  /** Lists consumers and namespaces first, so the first reconciles already know where copies go. */
  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.namespaces.start()]);
    await this.senders.start();
  }

  /** What the ClusterEmailSender steps read: consumers, namespace labels, copies. */
  get deps(): ClusterDeps {
    return {
      targets: (name, selector) =>
        clusterTargets(selector, this.#consumers.of(name), (ns) => {
          const n = this.namespaces.get('', ns);
          return n ? (n.metadata.labels ?? {}) : undefined;
        }),
      copies: (name) => this.#copies.get(name) ?? new Map(),
      foreign: (ns, secretName) => {
        const s = this.#o.secrets.get(ns, secretName);
        return !!s && s.metadata.labels?.[CLUSTER_SENDER_LABEL] === undefined;
      },
    };
  }

  /**
   * Follows a Secret change: keeps the copies index, and brings back the sender of a copy someone
   * else deleted, which publishes it again if the namespace is still a target.
   */
  onSecret(type: 'add' | 'update' | 'delete', secret: ObjectMeta): void {
    const owner = secret.metadata.labels?.[CLUSTER_SENDER_LABEL];
    const { namespace, name, annotations } = secret.metadata;
    if (!owner || name !== clusterRenderedSecretName(owner)) return;
    const copies = this.#copies.get(owner) ?? new Map<string, PublishedConfig>();
    if (type === 'delete') copies.delete(namespace);
    else
      copies.set(namespace, {
        secretName: name,
        revision: annotations?.[REVISION_ANNOTATION] ?? '',
        publishedAt: annotations?.[PUBLISHED_AT_ANNOTATION] ?? '',
      });
    if (copies.size) this.#copies.set(owner, copies);
    else this.#copies.delete(owner);
    if (type === 'delete') this.#o.queue.add(owner);
  }

  #wire(): void {
    const q = this.#o.queue;
    this.senders.onChange((type, s, old) => {
      const key = s.metadata.name;
      if (type === 'delete') {
        this.#o.index.delete(key);
        // Reconciled once more, gone: that removes its copies.
        q.add(key);
        return;
      }
      this.#o.index.set(s, this.#o.clusterResourceNamespace);
      if (senderChangeNeedsReconcile(type, s, old)) q.add(key);
    });
    this.pods.onChange((type, pod) => {
      for (const name of this.#consumers.update(type, pod)) q.add(name);
    });
    this.namespaces.onChange((type, ns, old) => {
      if (type === 'update' && canonicalJson(ns.metadata.labels) === canonicalJson(old?.metadata.labels))
        return;
      // Senders with consumers there may gain or lose it.
      for (const s of this.senders.list())
        if (this.#consumers.of(s.metadata.name).has(ns.metadata.name)) q.add(s.metadata.name);
    });
  }
}
