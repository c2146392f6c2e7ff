/**
 * Events for pods admitted while naming a missing EmailSender or ClusterEmailSender, or a
 * ClusterEmailSender that does not allow their namespace.
 *
 * Anyone who can reach the webhook port can send it an AdmissionReview, so what a review says is not
 * evidence of anything. An Event is therefore recorded only once the pod it describes really exists:
 * the admission leaves a pending note, and the webhook's watch of injected pods must then report a
 * new pod with the same namespace, sender and owner (or name) to {@link MissingSenderEvents.observe}.
 * A forged review for a namespace where no such pod is created leaves nothing behind but a pending
 * note that expires.
 *
 * Every structure is bounded: pending notes and the de-duplication record are LRU maps with caps,
 * and Events leave through a token bucket. A ReplicaSet retries and scales, so one Event per sender
 * and owner per `quietMs` is enough; the admission warning covers each create.
 *
 * A pod refused a ClusterEmailSender by its `namespaceSelector` gets no sidecar, so the watch of
 * injected pods never reports it: that Event is recorded at admission, through the same bucket and
 * de-duplication, and regards the pod's owner (or the pod) in the review's namespace.
 *
 * @module
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { EventRecorder, ObjectReference } from '../kube/events.ts';
import { LruMap } from '../runtime/lru.ts';
import { type RateLimit, TokenBucket } from '../runtime/token-bucket.ts';
import type { MissingSender } from './admission.ts';
import { CLUSTER_SENDER_ANNOTATION, SENDER_ANNOTATION } from './constants.ts';

/** How a sender is keyed here: a ClusterEmailSender's name cannot clash with an EmailSender's. */
const senderId = (m: Pick<MissingSender, 'sender' | 'kind'>) => (m.kind ? `${m.kind}/${m.sender}` : m.sender);

/** What the Event says: which pod, which sender, what is wrong and what happens now. */
function noteOf(pod: string, namespace: string, m: Pick<MissingSender, 'sender' | 'kind' | 'problem'>) {
  if (m.problem === 'NotAllowed')
    return `pod ${pod} names ClusterEmailSender "${m.sender}" (annotation mailroom.dev/cluster-sender), whose namespaceSelector does not allow namespace "${namespace}"; it was admitted without the sender sidecar and gets no config`;
  if (m.kind === 'ClusterEmailSender')
    return `pod ${pod} names ClusterEmailSender "${m.sender}" (annotation mailroom.dev/cluster-sender), which does not exist; its sender sidecar stays unready until it does`;
  return `pod ${pod} names EmailSender "${m.sender}" (annotation mailroom.dev/sender), which does not exist in namespace "${namespace}"; its sender sidecar stays unready until it does`;
}

/** Reporting controller name on the webhook's Events. */
export const REPORTING_CONTROLLER = 'mailroom.dev/webhook';

/** What the Event logic needs of a pod the webhook's watch reports (see {@link admittedPodOf}). */
export interface AdmittedPod {
  namespace: string;
  name: string;
  uid: string;
  generateName?: string;
  /** Its sender: the `mailroom.dev/sender` annotation, or `ClusterEmailSender/<name>`. */
  sender: string;
  /** Its controller (ReplicaSet, Job, …). */
  owner?: { apiVersion: string; kind: string; name: string; uid: string };
  /** `creationTimestamp`, in ms since the epoch. */
  createdMs: number;
}

/** The {@link AdmittedPod} view of a pod, or undefined when it names no sender. */
export function admittedPodOf(p: V1Pod): AdmittedPod | undefined {
  const m = p.metadata;
  const cluster = m?.annotations?.[CLUSTER_SENDER_ANNOTATION]?.trim();
  const sender =
    m?.annotations?.[SENDER_ANNOTATION]?.trim() ??
    (cluster ? senderId({ sender: cluster, kind: 'ClusterEmailSender' }) : undefined);
  if (!m?.name || !m.namespace || !m.uid || !sender) return undefined;
  const owner = m.ownerReferences?.find((o) => o.controller);
  return {
    namespace: m.namespace,
    name: m.name,
    uid: m.uid,
    ...(m.generateName ? { generateName: m.generateName } : {}),
    sender,
    ...(owner
      ? { owner: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid } }
      : {}),
    createdMs: m.creationTimestamp ? new Date(m.creationTimestamp).getTime() : 0,
  };
}

/** Options of {@link MissingSenderEvents}. */
export interface MissingSenderEventsOptions {
  /** The process's Event recorder: it queues, sends and logs failures. */
  events: Pick<EventRecorder, 'record'>;
  /** One Event per sender and owner per this long. Default 10 min. */
  quietMs?: number;
  /** How long an admission waits for its pod to appear. Default 30 s. */
  confirmWithinMs?: number;
  /** Admissions awaiting their pod, at most (least recently seen dropped first). Default 1024. */
  maxPending?: number;
  /** Sender/owner pairs remembered for de-duplication, at most. Default 4096. */
  maxKeys?: number;
  /** Events created at most, across all namespaces. Default 1/s with bursts of 20. */
  rate?: RateLimit;
  now?: () => number;
}

interface Pending {
  m: MissingSender;
  at: number;
}

/** What an Event is about and says. */
interface Subject {
  namespace: string;
  name: string;
  uid?: string;
  owner?: AdmittedPod['owner'];
  reason: string;
  note: string;
}

// Pod creationTimestamps come from the API server's clock, in whole seconds; allow for both.
const CLOCK_SLACK_MS = 60_000;

const keyOf = (namespace: string, sender: string, who: string) => `${namespace}/${sender}/${who}`;

/**
 * The `onMissingSender` hook of the admission handler, and the bounded machinery behind it. Every
 * operation is O(1): a review and a pod are matched by key, never by a scan.
 *
 * @example
 * const events = new MissingSenderEvents({ events: kube.events });
 * const deps = { ...rest, onMissingSender: events.hook };
 * podWatch.onAdd((pod) => { const a = admittedPodOf(pod); if (a) events.observe(a); });
 * // on shutdown: events.stop();
 */
export class MissingSenderEvents {
  readonly #o: MissingSenderEventsOptions;
  readonly #now: () => number;
  readonly #quietMs: number;
  readonly #confirmWithinMs: number;
  readonly #pending: LruMap<string, Pending>;
  readonly #recorded: LruMap<string, number>;
  readonly #bucket: TokenBucket;
  #prune: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Admissions whose pod never appeared (forged, refused later, or too slow to show up). */
  unconfirmed = 0;
  /** Events not recorded because the rate limit was reached. */
  limited = 0;

  constructor(o: MissingSenderEventsOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#quietMs = o.quietMs ?? 10 * 60_000;
    this.#confirmWithinMs = o.confirmWithinMs ?? 30_000;
    this.#pending = new LruMap(o.maxPending ?? 1024);
    this.#recorded = new LruMap(o.maxKeys ?? 4096);
    this.#bucket = new TokenBucket(o.rate ?? { perSecond: 1, burst: 20 }, this.#now);
  }

  /** Admissions awaiting their pod now (at most `maxPending`). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Sender/owner pairs remembered now (at most `maxKeys`). */
  get rememberedCount(): number {
    return this.#recorded.size;
  }

  /** Notes a pod admitted despite a missing sender; the Event follows once the pod exists. */
  readonly hook = (m: MissingSender): void => {
    if (this.#stopped) return;
    const t = this.#now();
    const key = keyOf(m.namespace, senderId(m), m.owner?.uid ?? m.pod);
    if (this.#quiet(key, t) || this.#pending.has(key)) return;
    if (m.problem === 'NotAllowed') {
      const { namespace, pod: name, owner } = m;
      const note = noteOf(name, namespace, m);
      this.#record(
        key,
        { namespace, name, ...(owner ? { owner } : {}), reason: 'ClusterSenderNotAllowed', note },
        t,
      );
      return;
    }
    this.#pending.set(key, { m, at: t });
    this.#prune ??= setInterval(() => this.expire(), this.#confirmWithinMs).unref();
  };

  /** A pod the webhook's watch reports (added or changed): records the Event an admission awaits. */
  observe(pod: AdmittedPod): void {
    if (this.#pending.size === 0) return;
    // The keys an admission of this pod made: by owner, else by name or by `generateName*`.
    const whos = pod.owner
      ? [pod.owner.uid]
      : [pod.name, ...(pod.generateName ? [`${pod.generateName}*`] : [])];
    for (const who of whos) {
      const key = keyOf(pod.namespace, pod.sender, who);
      const p = this.#pending.peek(key);
      if (!p || (!pod.owner && p.m.owner) || pod.createdMs < p.at - CLOCK_SLACK_MS) continue;
      this.#pending.delete(key);
      const t = this.#now();
      if (t - p.at <= this.#confirmWithinMs && !this.#quiet(key, t)) {
        const { namespace, name, uid, owner } = pod;
        const note = noteOf(name, namespace, p.m);
        this.#record(
          key,
          { namespace, name, uid, ...(owner ? { owner } : {}), reason: 'SenderNotFound', note },
          t,
        );
      }
      return;
    }
  }

  /** Drops admissions whose pod did not appear in time (a timer calls this). */
  expire(): void {
    const t = this.#now();
    for (const [key, p] of [...this.#pending.entries()]) {
      if (t - p.at <= this.#confirmWithinMs) break; // oldest first: the rest are younger
      this.#pending.delete(key);
      this.unconfirmed++;
    }
    if (this.#pending.size === 0) this.#idle();
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    this.#idle();
  }

  #idle(): void {
    clearInterval(this.#prune);
    this.#prune = undefined;
  }

  #quiet(key: string, t: number): boolean {
    return (this.#recorded.peek(key) ?? -Infinity) > t - this.#quietMs;
  }

  #record(key: string, pod: Subject, t: number): void {
    if (!this.#bucket.take()) {
      this.limited++;
      return;
    }
    this.#recorded.set(key, t);
    const { namespace, owner } = pod;
    // The pod as it exists, not as the review described it: its real name and uid.
    const regarding: ObjectReference = owner
      ? { ...owner, namespace }
      : { apiVersion: 'v1', kind: 'Pod', name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}), namespace };
    // Queued: nothing here waits for the events API.
    this.#o.events.record(REPORTING_CONTROLLER, regarding, {
      action: 'Inject',
      reason: pod.reason,
      type: 'Warning',
      note: pod.note,
    });
  }
}
