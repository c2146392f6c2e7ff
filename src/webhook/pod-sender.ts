/**
 * Which sender a pod uses, read from the pod alone: the one rule shared by the webhook's
 * `status.consumers` count of EmailSenders and the controller's tracking of ClusterEmailSender
 * consumers (which decides where a cluster sender's config is published).
 *
 * Pure and free of any Kubernetes client, so the controller can use it without loading one.
 *
 * @module
 */
import { clusterRenderedSecretName } from '../api/clusteremailsender.ts';
import { renderedSecretName } from '../api/rendered-config.ts';
import { CLUSTER_SENDER_ANNOTATION, SENDER_ANNOTATION, VOLUMES } from './constants.ts';

/** The parts of a pod this module reads. */
export interface PodLike {
  metadata?: { annotations?: Record<string, string> };
  spec?: { volumes?: ReadonlyArray<{ name: string; secret?: { secretName?: string } }> };
  status?: { phase?: string };
}

/** A sender as a pod names it. */
export interface PodSender {
  kind: 'EmailSender' | 'ClusterEmailSender';
  name: string;
}

const CLUSTER_SUFFIX = clusterRenderedSecretName('');
const SUFFIX = renderedSecretName('');

/** A pod that has not finished (Succeeded or Failed pods no longer send mail). */
export const isLive = (p: PodLike): boolean =>
  p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

/**
 * The sender a pod uses: the one whose config Secret its sidecar mounts (the annotations can be
 * edited after admission; the spec cannot), else its annotation.
 *
 * @example
 * podSender({ metadata: { annotations: { 'mailroom.dev/cluster-sender': 'platform' } } });
 * // { kind: 'ClusterEmailSender', name: 'platform' }
 */
export function podSender(p: PodLike): PodSender | undefined {
  const secret = p.spec?.volumes?.find((v) => v.name === VOLUMES.config)?.secret?.secretName;
  // The longer suffix first: `x-cluster-mailroom` also ends with `-mailroom`.
  if (secret?.endsWith(CLUSTER_SUFFIX))
    return { kind: 'ClusterEmailSender', name: secret.slice(0, -CLUSTER_SUFFIX.length) };
  if (secret?.endsWith(SUFFIX)) return { kind: 'EmailSender', name: secret.slice(0, -SUFFIX.length) };
  const a = p.metadata?.annotations;
  const cluster = a?.[CLUSTER_SENDER_ANNOTATION];
  if (cluster !== undefined) return { kind: 'ClusterEmailSender', name: cluster };
  const sender = a?.[SENDER_ANNOTATION];
  return sender !== undefined ? { kind: 'EmailSender', name: sender } : undefined;
}
