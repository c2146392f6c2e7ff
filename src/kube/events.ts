/**
 * The Event recorder (events.k8s.io/v1), off the caller's path: notes are queued and sent by a few
 * background workers, so a slow or failing events API never delays a status write or an admission
 * answer. A bounded backlog drops (and counts) notes rather than growing without limit, as
 * client-go's broadcaster does. One recorder per process serves every component in it.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../runtime/logger.ts';
import type { KubeRest } from './rest.ts';

/** The object an Event is about. */
export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  resourceVersion?: string;
}

/** An event to record, before the recorder fills in who and when. */
export interface EventNote {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
  action: string;
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** Where Events are created (only `request` is used). */
  rest: Pick<KubeRest, 'request'>;
  /** `reportingInstance`: the pod (or host) name. */
  instance: string;
  log: Logger;
  /** Events sent at once. Default 2: they trail a burst rather than slow the writes that matter more. */
  concurrency?: number;
  /** Notes queued at most; more are dropped. Default 5000. */
  maxBacklog?: number;
  now?: () => Date;
}

/** Options of one {@link EventRecorder.record}. */
export interface RecordOptions {
  /**
   * Called just before the Event is sent; throwing stops it (counted as failed). A controller that
   * may lose its Lease fences its Events with it, as it fences its other writes.
   */
  fence?: () => void;
}

interface Pending extends RecordOptions {
  controller: string;
  regarding: ObjectReference;
  note: EventNote;
  at: Date;
}

/** The body of an events.k8s.io/v1 Event. */
export function eventBody(
  controller: string,
  instance: string,
  regarding: ObjectReference,
  note: EventNote,
  at: Date,
): Record<string, unknown> {
  const { namespace, name } = regarding;
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    // Events about cluster-scoped objects live in `default`, where `kubectl describe` looks for them.
    metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace: namespace || 'default' },
    // MicroTime: RFC 3339 with microseconds, as the API requires for eventTime.
    eventTime: at.toISOString().replace(/(\.\d{3})Z$/, '$1000Z'),
    reportingController: controller,
    reportingInstance: instance,
    action: note.action,
    reason: note.reason,
    note: note.note.slice(0, 1024),
    type: note.type,
    regarding,
  };
}

/** Queues Events and creates them with bounded concurrency. */
export class EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #backlog: Pending[] = [];
  readonly #max: number;
  readonly #concurrency: number;
  #active = 0;
  #idle: Array<() => void> = [];
  /** Notes dropped because the backlog was full. */
  dropped = 0;
  /** Notes that failed to send. */
  failed = 0;

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
    this.#concurrency = opts.concurrency ?? 2;
    this.#max = opts.maxBacklog ?? 5000;
  }

  /** Queues an Event from `controller` (its `reportingController`) about `regarding`; returns at once. */
  record(controller: string, regarding: ObjectReference, note: EventNote, opts: RecordOptions = {}): void {
    if (this.#backlog.length >= this.#max) {
      this.dropped++;
      return;
    }
    this.#backlog.push({ ...opts, controller, regarding, note, at: this.#o.now?.() ?? new Date() });
    this.#pump();
  }

  /** Resolves once every queued event has been sent (or failed). */
  flush(): Promise<void> {
    if (this.#active === 0 && this.#backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #send(p: Pending): Promise<unknown> {
    p.fence?.();
    const body = eventBody(p.controller, this.#o.instance, p.regarding, p.note, p.at);
    return this.#o.rest.request(
      'POST',
      `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(p.regarding.namespace || 'default')}/events`,
      { body },
    );
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#backlog.length > 0) {
      const p = this.#backlog.shift()!;
      this.#active++;
      this.#send(p)
        .catch((err: unknown) => {
          this.failed++;
          this.#o.log.warn(
            {
              err,
              regarding: `${p.regarding.kind} ${p.regarding.namespace}/${p.regarding.name}`,
              reason: p.note.reason,
            },
            'event not recorded',
          );
        })
        .finally(() => {
          this.#active--;
          this.#pump();
          if (this.#active === 0 && this.#backlog.length === 0) for (const r of this.#idle.splice(0)) r();
        });
    }
  }
}
