/**
 * The controller's EmailSender-specific calls on {@link KubeRest}: the rendered config Secret,
 * EmailSender status, and how EmailSenders and Secrets are cached and referred to.
 *
 * @module
 */

import { CLUSTER_PLURAL } from '../api/clusteremailsender.ts';
import { API_VERSION, type EmailSender, GROUP, KIND, PLURAL, VERSION } from '../api/emailsender.ts';
import { RENDERED_CONFIG_KEY } from '../api/rendered-config.ts';
import type { ObjectReference } from '../kube/events.ts';
import { mergePatch } from '../kube/merge-patch.ts';
import { isConflict, isNotFound, type KubeRest } from '../kube/rest.ts';
import { SecretReader, type SecretReaderOptions, secretPath } from '../kube/secrets.ts';
import { metadataTransform, type ObjectMeta, specTransform } from '../kube/transforms.ts';
import type { AnySender } from './kinds.ts';
import type { ConfigSecret, ConfigSecretWrite, KubeClient, SecretData, SenderRef } from './types.ts';

/** Annotation on the rendered config Secret: the revision it holds. */
export const REVISION_ANNOTATION = 'mailroom.dev/revision';
/** Annotation on the rendered config Secret: when that revision was published. */
export const PUBLISHED_AT_ANNOTATION = 'mailroom.dev/published-at';
/** Label on the rendered config Secret: the EmailSender it belongs to. */
export const SENDER_LABEL = 'mailroom.dev/sender';
/** Name of the controller in events and field managers. */
export const CONTROLLER_NAME = 'mailroom.dev/controller';
const FIELD_MANAGER = 'mailroom-controller';

/** Label on a ClusterEmailSender's config copy: the ClusterEmailSender it belongs to. */
export const CLUSTER_SENDER_LABEL = 'mailroom.dev/cluster-sender';

/** Path of the EmailSenders resource. */
export const SENDERS = { prefix: `/apis/${GROUP}/${VERSION}`, plural: PLURAL } as const;
/** Path of the ClusterEmailSenders resource (cluster-scoped). */
export const CLUSTER_SENDERS = { prefix: `/apis/${GROUP}/${VERSION}`, plural: CLUSTER_PLURAL } as const;
/** Path of the Namespaces resource. */
export const NAMESPACES = { prefix: '/api/v1', plural: 'namespaces' } as const;
/** Path of the Pods resource. */
export const PODS = { prefix: '/api/v1', plural: 'pods' } as const;

/** A sender as an Event's `regarding` (a ClusterEmailSender's has no namespace). */
export const senderRef = (s: AnySender): ObjectReference => {
  const { namespace, name, uid, resourceVersion } = s.metadata;
  return { apiVersion: API_VERSION, kind: s.kind, namespace: namespace ?? '', name, uid, resourceVersion };
};

/** The informer transform of EmailSenders: no managedFields nor last-applied, strings shared. */
export const senderTransform = specTransform<EmailSender>;

/** A Secret as the informer caches it: metadata only, and the uid of the object that controls it. */
export interface SecretMeta extends ObjectMeta {
  metadata: ObjectMeta['metadata'] & {
    /** The controller owner reference only, by uid: whether a config Secret is a sender's own. */
    ownerReferences?: Array<{ uid: string; controller: true }>;
  };
}

const mailroomMetadata = metadataTransform('mailroom.dev/');

/**
 * The informer transform of Secrets: metadata only, only Mailroom's labels and annotations, and the
 * uid of the controller owner reference.
 */
export function secretTransform(raw: unknown): SecretMeta {
  const kept: SecretMeta = mailroomMetadata(raw);
  const refs = (raw as { metadata: { ownerReferences?: Array<{ uid: string; controller?: boolean }> } })
    .metadata.ownerReferences;
  const controller = refs?.find((r) => r.controller === true)?.uid;
  if (controller) kept.metadata.ownerReferences = [{ uid: controller, controller: true }];
  return kept;
}

/** The uid of the object that controls `secret` (its controller owner reference), if any. */
export function controllerUid(secret: SecretMeta | undefined): string | undefined {
  return secret?.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

/** {@link KubeClient} on a real API server. */
export class RestKubeClient implements KubeClient {
  readonly #rest: KubeRest;
  readonly #secrets: SecretReader;

  constructor(rest: KubeRest, opts: SecretReaderOptions = {}) {
    this.#rest = rest;
    this.#secrets = new SecretReader(rest, opts);
  }

  readSecret(namespace: string, name: string): Promise<SecretData | undefined> {
    return this.#secrets.read(namespace, name);
  }

  async writeConfigSecret(c: ConfigSecret): Promise<ConfigSecretWrite> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: c.name,
        namespace: c.namespace,
        labels: {
          [c.owner.kind ? CLUSTER_SENDER_LABEL : SENDER_LABEL]: c.owner.name,
          'app.kubernetes.io/managed-by': 'mailroom',
        },
        annotations: { [REVISION_ANNOTATION]: c.revision, [PUBLISHED_AT_ANNOTATION]: c.publishedAt },
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: c.owner.kind ?? KIND,
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
      return { written: true };
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    // It exists. Ours (an older revision): replace it whole, so no stale key survives. Anyone
    // else's: never touched. The PUT is guarded by the version we judged, so a Secret that
    // changes hands in between is not overwritten either (409: retried with backoff).
    const existing = await this.#rest.request<{
      metadata: {
        resourceVersion?: string;
        ownerReferences?: Array<{ kind?: string; name?: string; uid?: string; controller?: boolean }>;
      };
    }>('GET', secretPath(c.namespace, c.name));
    const controller = existing.metadata.ownerReferences?.find((r) => r.controller === true);
    if (controller?.uid !== c.owner.uid) {
      return controller
        ? { written: false, heldBy: `${controller.kind} "${controller.name}"` }
        : { written: false };
    }
    await this.#rest.request('PUT', secretPath(c.namespace, c.name), {
      body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion } },
      query: { fieldManager: FIELD_MANAGER },
    });
    return { written: true };
  }

  async deleteConfigSecret(namespace: string, name: string): Promise<void> {
    try {
      await this.#rest.request('DELETE', secretPath(namespace, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async patchStatus(
    sender: SenderRef,
    resourceVersion: string | undefined,
    status: unknown,
    previous: unknown,
  ): Promise<string | undefined> {
    const { namespace, name } = sender;
    const path =
      sender.kind === 'ClusterEmailSender'
        ? `${CLUSTER_SENDERS.prefix}/${CLUSTER_PLURAL}/${encodeURIComponent(name)}/status`
        : `${SENDERS.prefix}/namespaces/${encodeURIComponent(namespace ?? '')}/${PLURAL}/${encodeURIComponent(name)}/status`;
    const updated = await this.#rest.request<EmailSender>('PATCH', path, {
      // A merge patch replaces `conditions` whole, which is what we want: we computed all of it.
      body: {
        metadata: resourceVersion ? { resourceVersion } : {},
        status: mergePatch(previous ?? {}, status),
      },
      contentType: 'application/merge-patch+json',
      query: { fieldManager: FIELD_MANAGER },
    });
    return updated.metadata.resourceVersion;
  }
}
