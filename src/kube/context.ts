/**
 * The Kubernetes client layer of one process: one REST client (one keep-alive connection pool),
 * one Event recorder, and informers shared by whoever watches the same thing. The controller and
 * the webhook both run on it; when they run in one process they share it, so that process holds
 * one cache of EmailSenders and one set of connections, not two.
 *
 * @example
 * const kube = await connectKube(await loadClusterAccess(), { log, instance: process.env.POD_NAME });
 * const controller = new Controller({ kube, probe, log });
 * // …
 * await controller.stop();
 * await kube.close();
 *
 * @module
 */
import { hostname } from 'node:os';
import type { Logger } from '../runtime/logger.ts';
import { EventRecorder } from './events.ts';
import { Informer, type InformerOptions, type KubeObject } from './informer.ts';
import type { ClusterAccess } from './kubeconfig.ts';
import { KubeRest } from './rest.ts';

/** What an informer is keyed by: two requests with the same key get the same informer. */
export type SharedInformerOptions<T> = Omit<InformerOptions<T>, 'rest' | 'log'>;

/** The client layer of a process. */
export interface KubeContext {
  readonly rest: KubeRest;
  readonly events: EventRecorder;
  /** Where the credentials came from, for logs. */
  readonly source: string;
  /**
   * The informer of `opts`, made on first request and shared after: same resource, namespaces,
   * label selector, Accept and transform function. Each user calls its `start` and `stop`.
   */
  informer<T extends KubeObject>(opts: SharedInformerOptions<T>): Informer<T>;
  /** Flushes Events (at most `flushMs`, default 2 s) and closes the connections. */
  close(flushMs?: number): Promise<void>;
}

function keyOf(o: SharedInformerOptions<unknown>): string {
  const ns = [...(o.namespaces ?? [])].sort().join(',');
  return `${o.resource.prefix}/${o.resource.plural}|${ns}|${o.labelSelector ?? ''}|${o.accept ?? ''}`;
}

/**
 * Opens the client layer on `access`: reads the credentials once (a bad token file fails here, not
 * at the first call).
 */
export async function connectKube(
  access: ClusterAccess,
  opts: { log: Logger; instance?: string },
): Promise<KubeContext> {
  const rest = await new KubeRest(access).init();
  const events = new EventRecorder({ rest, log: opts.log, instance: opts.instance ?? hostname() });
  const informers = new Map<string, Array<{ transform: unknown; informer: Informer<KubeObject> }>>();
  return {
    rest,
    events,
    source: access.source,
    informer<T extends KubeObject>(o: SharedInformerOptions<T>): Informer<T> {
      const key = keyOf(o);
      const same = informers.get(key) ?? [];
      const hit = same.find((s) => s.transform === o.transform);
      if (hit) return hit.informer as unknown as Informer<T>;
      const informer = new Informer<T>({ ...o, rest, log: opts.log });
      same.push({ transform: o.transform, informer: informer as unknown as Informer<KubeObject> });
      informers.set(key, same);
      return informer;
    },
    async close(flushMs = 2000) {
      await Promise.race([events.flush(), new Promise((r) => setTimeout(r, flushMs).unref())]);
      rest.close();
    },
  };
}
