/**
 * The API calls of the controller, on {@link KubeRest}: Secrets, EmailSender status, Events.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { API_VERSION, type EmailSender, GROUP, KIND, PLURAL, VERSION } from '../api/emailsender.ts';
import { RENDERED_CONFIG_KEY } from '../api/rendered-config.ts';
import { isConflict, isNotFound, type KubeRest } from './kube-rest.ts';
import { mergePatch } from './merge-patch.ts';
import type { ConfigSecret, EventNote, KubeClient, SecretData } from './types.ts';

/** Annotation on the rendered config Secret: the revision it holds. */
export const REVISION_ANNOTATION = 'mailroom.dev/revision';
/** Annotation on the rendered config Secret: when that revision was published. */
export const PUBLISHED_AT_ANNOTATION = 'mailroom.dev/published-at';
/** Label on the rendered config Secret: the EmailSender it belongs to. */
export const SENDER_LABEL = 'mailroom.dev/sender';
/** Name of the controller in events and field managers. */
export const CONTROLLER_NAME = 'mailroom.dev/controller';
const FIELD_MANAGER = 'mailroom-controller';

/** Path of the EmailSenders resource. */
export const SENDERS = { prefix: `/apis/${GROUP}/${VERSION}`, plural: PLURAL } as const;
/** Path of the Secrets resource. */
export const SECRETS = { prefix: '/api/v1', plural: 'secrets' } as const;

const secretPath = (ns: string, name?: string) =>
  `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets${name ? `/${encodeURIComponent(name)}` : ''}`;

/** Options of {@link RestKubeClient}. */
export interface RestKubeClientOptions {
  /**
   * The resourceVersion of a Secret as the (data-less) informer cache knows it. When given, Secret
   * data read for a reconcile is kept while that version stays current, so a URI or CA Secret
   * shared by many senders is read once per change rather than once per reconcile.
   */
  secretVersion?(namespace: string, name: string): string | undefined;
  /** Secrets whose data is kept at most (least recently used go first). Default 1000. */
  maxCachedSecrets?: number;
  /** Longest time data is kept without being read again. Default 5 min. */
  cachedSecretTtlMs?: number;
}

interface CachedSecret extends SecretData {
  resourceVersion: string;
  at: number;
}

/** {@link KubeClient} on a real API server. */
export class RestKubeClient implements KubeClient {
  readonly #rest: KubeRest;
  readonly #o: RestKubeClientOptions;
  readonly #secrets = new Map<string, CachedSecret>();

  constructor(rest: KubeRest, opts: RestKubeClientOptions = {}) {
    this.#rest = rest;
    this.#o = opts;
  }

  async readSecret(namespace: string, name: string): Promise<SecretData | undefined> {
    const key = `${namespace}/${name}`;
    const current = this.#o.secretVersion?.(namespace, name);
    const hit = this.#secrets.get(key);
    this.#secrets.delete(key);
    const ttl = this.#o.cachedSecretTtlMs ?? 300_000;
    if (hit && current !== undefined && hit.resourceVersion === current && Date.now() - hit.at < ttl) {
      this.#secrets.set(key, hit); // most recently used last
      return { uid: hit.uid, data: hit.data };
    }
    let secret: { data?: Record<string, string>; metadata?: { resourceVersion?: string; uid?: string } };
    try {
      secret = await this.#rest.request('GET', secretPath(namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    const rv = secret.metadata?.resourceVersion;
    const uid = secret.metadata?.uid ?? '';
    if (this.#o.secretVersion && rv) {
      this.#secrets.set(key, { resourceVersion: rv, uid, data, at: Date.now() });
      for (const oldest of this.#secrets.keys()) {
        if (this.#secrets.size <= (this.#o.maxCachedSecrets ?? 1000)) break;
        this.#secrets.delete(oldest);
      }
    }
    return { uid, data };
  }

  async writeConfigSecret(c: ConfigSecret): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: c.name,
        namespace: c.namespace,
        labels: { [SENDER_LABEL]: c.owner.name, 'app.kubernetes.io/managed-by': 'mailroom' },
        annotations: { [REVISION_ANNOTATION]: c.revision, [PUBLISHED_AT_ANNOTATION]: c.publishedAt },
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: KIND,
            name: c.owner.name,
            uid: c.owner.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      data: { [RENDERED_CONFIG_KEY]: Buffer.from(c.body).toString('base64') },
    };
    try {
      await this.#rest.request('POST', secretPath(c.namespace), {
        body,
        query: { fieldManager: FIELD_MANAGER },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      // It exists (an older revision): replace it whole, so no stale key survives.
      await this.#rest.request('PUT', secretPath(c.namespace, c.name), {
        body,
        query: { fieldManager: FIELD_MANAGER },
      });
    }
  }

  async patchStatus(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    status: unknown,
    previous: unknown,
  ): Promise<string | undefined> {
    const updated = await this.#rest.request<EmailSender>(
      'PATCH',
      `${SENDERS.prefix}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}/status`,
      {
        // A merge patch replaces `conditions` whole, which is what we want: we computed all of it.
        body: {
          metadata: resourceVersion ? { resourceVersion } : {},
          status: mergePatch(previous ?? {}, status),
        },
        contentType: 'application/merge-patch+json',
        query: { fieldManager: FIELD_MANAGER },
      },
    );
    return updated.metadata.resourceVersion;
  }

  /** Creates an events.k8s.io/v1 Event about `sender`. */
  async createEvent(sender: EmailSender, note: EventNote, instance: string, now: Date): Promise<void> {
    const { namespace, name, uid, resourceVersion } = sender.metadata;
    await this.#rest.request(
      'POST',
      `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
      {
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
          // MicroTime: RFC 3339 with microseconds, as the API requires for eventTime.
          eventTime: now.toISOString().replace(/(\.\d{3})Z$/, '$1000Z'),
          reportingController: CONTROLLER_NAME,
          reportingInstance: instance,
          action: note.action,
          reason: note.reason,
          note: note.note.slice(0, 1024),
          type: note.type,
          regarding: { apiVersion: API_VERSION, kind: KIND, namespace, name, uid, resourceVersion },
        },
      },
    );
  }
}
