/**
 * The two sender kinds as the reconcile sees them. Everything about a reconcile is shared (steps,
 * probe and its cache, status, conditions, events, requeue); a kind says only what differs: how its
 * spec parses, which steps publish its config, where its Secrets are read, and what is left to
 * clean up once it is gone.
 *
 * @module
 */
import type { z } from 'zod';
import { type ClusterEmailSender, clusterEmailSenderSpecSchema } from '../api/clusteremailsender.ts';
import { type EmailSender, type EmailSenderSpec, emailSenderSpecSchema } from '../api/emailsender.ts';
import { pruneCopies } from './steps/cluster-targets.ts';
import { CLUSTER_STEPS, STEPS } from './steps/index.ts';
import type { ReconcileStep, StepDeps } from './types.ts';

export { parseSenderKey, senderKey } from './keys.ts';

/** A sender of either kind. */
export type AnySender = EmailSender | ClusterEmailSender;

/** What differs between the kinds in a reconcile. */
export interface SenderKind {
  readonly kind: AnySender['kind'];
  /** Parses the spec; a ClusterEmailSender's is the EmailSender's plus `namespaceSelector`. */
  readonly specSchema: z.ZodType<EmailSenderSpec>;
  readonly steps: readonly ReconcileStep[];
  /** The one namespace this sender's Secrets are read from. */
  secretNamespace(sender: AnySender): string;
  /** Cleans up after a sender that is gone (its key reconciled after the delete). */
  gone?(name: string, deps: StepDeps): Promise<void>;
}

/** EmailSenders: Secrets of their own namespace; their config Secret is garbage-collected with them. */
export const EMAIL_SENDERS: SenderKind = {
  kind: 'EmailSender',
  specSchema: emailSenderSpecSchema,
  steps: STEPS,
  secretNamespace: (s) => s.metadata.namespace ?? '',
};

/**
 * ClusterEmailSenders: Secrets of the cluster-resource namespace only; copies in consumer
 * namespaces, removed when the sender is gone (owner references do that too, where a garbage
 * collector runs; this does not wait for one).
 */
export const clusterEmailSenders = (clusterResourceNamespace: string): SenderKind => ({
  kind: 'ClusterEmailSender',
  specSchema: clusterEmailSenderSpecSchema,
  steps: CLUSTER_STEPS,
  secretNamespace: () => clusterResourceNamespace,
  gone: async (name, deps) => {
    await pruneCopies(deps, name, []);
  },
});
