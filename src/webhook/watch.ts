/**
 * A client-node informer that keeps running: client-node's `ListWatch` relists after `410 Gone` but
 * stops on any other error, so this restarts it with backoff; and it reopens the watch now and then,
 * because a watch can stall without closing.
 *
 * @module
 */
import {
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  makeInformer,
} from '@kubernetes/client-node';
import type { Logger } from '../runtime/logger.ts';

/** Options of {@link startWatch}. */
export interface WatchOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** API path of the collection, e.g. `/api/v1/pods`. */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  /** Called with the object on every add, update and delete (after the cache holds the change). */
  onChange(obj: T, deleted: boolean): void;
  log: Logger;
  /** Reopen the watch this often even when all looks well. Default 10 min. */
  resyncMs?: number;
}

/** A running watch and its cache. */
export interface RunningWatch<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): ReadonlyArray<T>;
  stop(): Promise<void>;
}

/** Lists, then watches; resolves once the first list is in the cache. */
export async function startWatch<T extends KubernetesObject>(o: WatchOptions<T>): Promise<RunningWatch<T>> {
  const informer = makeInformer<T>(o.kc, o.path, o.list, o.labelSelector);
  let stopped = false;
  let delay = 500;
  let timer: NodeJS.Timeout | undefined;
  informer.on('add', (obj) => o.onChange(obj, false));
  informer.on('update', (obj) => o.onChange(obj, false));
  informer.on('delete', (obj) => o.onChange(obj, true));
  informer.on('connect', () => {
    delay = 500;
  });
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    o.log.warn({ err, path: o.path }, 'watch failed; restarting');
    clearTimeout(timer);
    timer = setTimeout(() => void informer.start().catch(() => {}), delay);
    delay = Math.min(delay * 2, 30_000);
  });
  await informer.start();
  const resync = setInterval(() => {
    // Reopens the watch from the last resourceVersion (a 410 then makes it relist).
    void informer
      .stop()
      .then(() => (stopped ? undefined : informer.start()))
      .catch(() => {});
  }, o.resyncMs ?? 600_000);
  resync.unref();
  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(resync);
      await informer.stop();
    },
  };
}
