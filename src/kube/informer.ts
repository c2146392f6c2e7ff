/**
 * An informer: list + watch one resource (in all namespaces or in each of several), keeping a
 * transformed copy of each object and calling handlers on changes.
 *
 * The traps of a watch, handled here:
 * - `410 Gone` (as a status or an ERROR event): relist, and report the difference as changes;
 * - any other error, or the server going away: retry with backoff (1 s … 30 s), never stop;
 * - a watch that stalls silently: no byte (bookmarks included) for `idleTimeoutMs` ends it, and
 *   it is opened again from the last resourceVersion;
 * - memory: `transform` runs before anything is stored (Secrets keep no data), lists are paginated.
 *
 * @module
 */
import type { Check } from '../runtime/health.ts';
import type { Logger } from '../runtime/logger.ts';
import { KubeApiError, type KubeRest } from './rest.ts';

/** The part of an object every informer reads. */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** Called on a change; `old` is set for updates and deletes. */
export type ChangeHandler<T> = (type: 'add' | 'update' | 'delete', obj: T, old?: T) => void;

/** Options of {@link Informer}. */
export interface InformerOptions<T> {
  rest: KubeRest;
  /** e.g. `/api/v1/secrets`, or `/apis/mailroom.dev/v1alpha1/emailsenders`. */
  resource: { prefix: string; plural: string };
  /** Namespaces to watch; empty or absent: all. */
  namespaces?: readonly string[];
  labelSelector?: string;
  /** Accept header, e.g. the PartialObjectMetadata form to never receive Secret data. */
  accept?: string;
  transform: (raw: unknown) => T;
  log: Logger;
  /** A watch silent for this long is restarted. Default 150 s (bookmarks arrive about every minute). */
  idleTimeoutMs?: number;
  pageSize?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** Cache plus change feed of one resource. */
export class Informer<T extends KubeObject> {
  readonly #o: InformerOptions<T>;
  readonly #store = new Map<string, T>();
  readonly #handlers: ChangeHandler<T>[] = [];
  readonly #abort = new AbortController();
  readonly #synced = new Set<string>();
  readonly #loops: Promise<void>[] = [];
  #lastContact = Date.now();
  #started?: Promise<void>;
  #users = 0;
  /** Successful list calls (relists included), for tests and metrics. */
  lists = 0;

  constructor(opts: InformerOptions<T>) {
    this.#o = opts;
  }

  /**
   * Adds a change handler. Call it before {@link Informer.start} to see every object; one added
   * later (a second user of a shared informer) sees later changes only.
   */
  onChange(handler: ChangeHandler<T>): void {
    this.#handlers.push(handler);
  }

  /**
   * Starts every list-watch loop; resolves once each has listed once. Each user of a shared
   * informer calls it (and {@link Informer.stop}): the first starts the loops, later calls wait for
   * the same first list.
   */
  start(): Promise<void> {
    this.#users++;
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const scopes = this.#o.namespaces?.length ? [...this.#o.namespaces] : [''];
    const firstSync = scopes.map(
      (ns) =>
        new Promise<void>((resolve) => {
          this.#loops.push(this.#run(ns, resolve));
        }),
    );
    await Promise.race([
      Promise.all(firstSync),
      new Promise((r) => this.#abort.signal.addEventListener('abort', r)),
    ]);
  }

  /** Stops watching once every user that started it has stopped it. The cache stays readable. */
  async stop(): Promise<void> {
    if (--this.#users > 0) return;
    this.#abort.abort();
    await Promise.allSettled(this.#loops);
  }

  /** True once every namespace has been listed. */
  get synced(): boolean {
    const scopes = this.#o.namespaces?.length ? this.#o.namespaces.length : 1;
    return this.#synced.size >= scopes;
  }

  /** The resource's plural name. */
  get resource(): string {
    return this.#o.resource.plural;
  }

  /** Milliseconds since the API server last answered a list or sent a watch line. */
  get silenceMs(): number {
    return Date.now() - this.#lastContact;
  }

  get(namespace: string, name: string): T | undefined {
    return this.#store.get(`${namespace}/${name}`);
  }

  list(): IterableIterator<T> {
    return this.#store.values();
  }

  get size(): number {
    return this.#store.size;
  }

  #emit(type: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.#handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.#o.log.error({ err }, 'informer handler failed');
      }
    }
  }

  #put(raw: unknown): void {
    const obj = this.#o.transform(raw);
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const old = this.#store.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.#store.set(key, obj);
    this.#emit(old ? 'update' : 'add', obj, old);
  }

  #delete(raw: unknown): void {
    const obj = this.#o.transform(raw);
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const old = this.#store.get(key);
    this.#store.delete(key);
    this.#emit('delete', old ?? obj, old);
  }

  #path(ns: string): string {
    const { prefix, plural } = this.#o.resource;
    return ns ? `${prefix}/namespaces/${encodeURIComponent(ns)}/${plural}` : `${prefix}/${plural}`;
  }

  async #list(ns: string): Promise<string> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.#o.rest.request<{
        items?: unknown[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>('GET', this.#path(ns), {
        query: { limit: this.#o.pageSize ?? 500, continue: cont, labelSelector: this.#o.labelSelector },
        ...(this.#o.accept
          ? { accept: this.#o.accept.replace('PartialObjectMetadata', 'PartialObjectMetadataList') }
          : {}),
        signal: this.#abort.signal,
      });
      this.#lastContact = Date.now();
      for (const item of page.items ?? []) {
        this.#put(item);
        const m = (item as KubeObject).metadata;
        seen.add(`${m.namespace ?? ''}/${m.name}`);
      }
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    for (const [key, obj] of this.#store) {
      const inScope = ns === '' || obj.metadata.namespace === ns;
      if (inScope && !seen.has(key)) {
        this.#store.delete(key);
        this.#emit('delete', obj, obj);
      }
    }
    this.lists++;
    return rv;
  }

  async #run(ns: string, onSynced: () => void): Promise<void> {
    const signal = this.#abort.signal;
    const where = ns || 'all namespaces';
    let rv = '';
    let backoff = 0;
    while (!signal.aborted) {
      try {
        if (!rv) {
          rv = await this.#list(ns);
          this.#synced.add(ns);
          onSynced();
        }
        let gone = false;
        const opened = Date.now();
        await this.#o.rest.stream(
          this.#path(ns),
          (line) => {
            this.#lastContact = Date.now();
            const ev = line as { type: string; object: KubeObject & { code?: number } };
            if (ev.type === 'ERROR') {
              if (ev.object.code === 410) gone = true;
              else
                this.#o.log.warn(
                  { resource: this.#o.resource.plural, where, status: ev.object },
                  'watch error event',
                );
              return;
            }
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.#put(ev.object);
            else if (ev.type === 'DELETED') this.#delete(ev.object);
            rv = ev.object.metadata?.resourceVersion ?? rv;
            backoff = 0;
          },
          {
            query: {
              watch: 1,
              resourceVersion: rv,
              allowWatchBookmarks: true,
              // The server ends each watch after 5-10 minutes; spread so watches do not restart together.
              timeoutSeconds: 300 + Math.floor(Math.random() * 300),
              labelSelector: this.#o.labelSelector,
            },
            ...(this.#o.accept ? { accept: this.#o.accept } : {}),
            signal,
            timeoutMs: this.#o.idleTimeoutMs ?? 150_000,
          },
        );
        if (gone) {
          this.#o.log.info({ resource: this.#o.resource.plural, where }, 'watch expired (410); relisting');
          rv = '';
        } else if (Date.now() - opened < 1000) {
          // A watch that ends at once, again and again, must not become a busy loop.
          await sleep(1000, signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          rv = '';
          continue;
        }
        backoff = Math.min(30_000, backoff ? backoff * 2 : 1000);
        this.#o.log.warn(
          { resource: this.#o.resource.plural, where, err, retryInMs: backoff },
          'list/watch failed; retrying',
        );
        await sleep(backoff, signal);
      }
    }
  }
}

/**
 * Health checks of an informer: `alive` fails when the API server has been silent longer than
 * `silentLimitMs` (a stuck watch that the watchdog did not cure), `synced` until the first list.
 */
export function informerChecks(
  inf: { silenceMs: number; synced: boolean; resource: string },
  silentLimitMs: number,
): { alive: Check; synced: Check } {
  return {
    alive: {
      name: `informer-${inf.resource}`,
      check: () =>
        inf.silenceMs < silentLimitMs ||
        `no answer from the API server for ${Math.round(inf.silenceMs / 1000)} s`,
    },
    synced: { name: `cache-${inf.resource}`, check: () => inf.synced || 'not synced yet' },
  };
}
