/**
 * The `ClusterEmailSender` API (`mailroom.dev/v1alpha1`, cluster-scoped): one sender for a whole
 * platform, the cert-manager `ClusterIssuer` pattern. Its spec is the EmailSender's (the same zod
 * schema, {@link senderSpecSchema}) plus `namespaceSelector`; its Secrets live in the
 * cluster-resource namespace, never in an application namespace. Pods opt in with the annotation
 * `mailroom.dev/cluster-sender: <name>`.
 *
 * @module
 */
import * as z from 'zod';
import {
  type API_VERSION,
  type EmailSenderStatus,
  emailSenderStatusSchema,
  type ObjectMeta,
  type SecretScope,
  senderSpecSchema,
} from './emailsender.ts';
import { type LabelSelector, labelSelectorSchema } from './label-selector.ts';

export const CLUSTER_KIND = 'ClusterEmailSender';
export const CLUSTER_PLURAL = 'clusteremailsenders';

/** The ClusterEmailSender's scope: Secrets of the cluster-resource namespace only. */
export const CLUSTER_SECRETS: SecretScope = {
  name: "in the cluster-resource namespace (the controller's own namespace, or its --cluster-resource-namespace)",
  reference:
    'of the cluster-resource namespace (no namespace field: a ClusterEmailSender never reads a Secret of an application namespace)',
};

export const clusterEmailSenderSpecSchema = senderSpecSchema(CLUSTER_SECRETS)
  .extend({
    namespaceSelector: labelSelectorSchema
      .prefault({})
      .describe(
        'Namespaces whose pods may use this sender (a label selector on the Namespace). Empty (the default) selects every namespace. The config is published only into selected namespaces that have pods annotated mailroom.dev/cluster-sender: <name>.',
      ),
  })
  .describe(
    'Desired state of a ClusterEmailSender: the EmailSender spec (its Secrets in the cluster-resource namespace) plus the namespaces allowed to use it.',
  );

export type ClusterEmailSenderSpec = z.infer<typeof clusterEmailSenderSpecSchema>;
export type ClusterEmailSenderSpecInput = z.input<typeof clusterEmailSenderSpecSchema>;

export const clusterEmailSenderStatusSchema = emailSenderStatusSchema
  .extend({
    consumers: z
      .int()
      .min(0)
      .optional()
      .describe('Number of pods, across all namespaces, that use this sender.'),
    namespaces: z
      .array(z.string().max(63))
      .optional()
      .describe('Namespaces the rendered config is published into (selected and with consumers), sorted.'),
  })
  .describe('Observed state of a ClusterEmailSender.');

export type ClusterEmailSenderStatus = z.infer<typeof clusterEmailSenderStatusSchema>;

/** A ClusterEmailSender as Mailroom reads it: cluster-scoped, so its metadata has no namespace. */
export interface ClusterEmailSender {
  apiVersion: typeof API_VERSION;
  kind: typeof CLUSTER_KIND;
  metadata: Omit<ObjectMeta, 'namespace'> & { namespace?: undefined };
  spec: ClusterEmailSenderSpecInput;
  status?: ClusterEmailSenderStatus & EmailSenderStatus;
}

/** Name of the config Secret a ClusterEmailSender publishes into each consumer namespace. */
export const clusterRenderedSecretName = (senderName: string) => `${senderName}-cluster-mailroom`;

export type { LabelSelector };
