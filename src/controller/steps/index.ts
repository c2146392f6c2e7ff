/**
 * The reconcile steps, in the order they run, each with the hooks it asks for. The first failure
 * stops the chain.
 *
 * @module
 */
import type { ReconcileStep } from '../types.ts';
import { clusterTargets } from './cluster-targets.ts';
import { deliverability } from './deliverability.ts';
import { probe } from './probe.ts';
import { publishClusterConfig } from './publish-cluster-config.ts';
import { publishConfig } from './publish-config.ts';
import { readDkimKey } from './read-dkim-key.ts';
import { readCa, readUri } from './read-secret.ts';
import { renderConfigStep } from './render-config.ts';

/**
 * The steps that read the sender's Secrets and parse or check what they hold. Each reads one
 * Secret and needs no other step before it, so `mailroom validate` runs them too, each on its own,
 * on the Secrets of a manifest set (see `offline.ts`): one rule, one message, one reason.
 */
export const INPUT_STEPS: readonly ReconcileStep[] = [
  { name: 'read-uri', run: readUri, reads: 'spec.smtp.uriSecretRef' },
  { name: 'read-ca', run: readCa, reads: 'spec.smtp.caSecretRef' },
  { name: 'read-dkim-key', run: readDkimKey, reads: 'spec.dkim.privateKeySecretRef' },
];

/**
 * read-uri → read-ca → read-dkim-key → render-config → deliverability (started, runs beside the
 * probe) → probe → publish-config.
 */
export const STEPS: readonly ReconcileStep[] = [
  ...INPUT_STEPS,
  { name: 'render-config', run: renderConfigStep },
  { name: 'deliverability', run: deliverability },
  // The only step that talks to a remote server for seconds: a new generation shows progress.
  { name: 'probe', run: probe, reportsProgress: true },
  { name: 'publish-config', run: publishConfig },
];

/**
 * A ClusterEmailSender's steps: first where its config belongs (removing copies from namespaces that
 * stopped being allowed or used, whatever the probe says), then the same chain as an EmailSender's
 * up to the probe, then the copies published into every target namespace.
 */
export const CLUSTER_STEPS: readonly ReconcileStep[] = [
  { name: 'cluster-targets', run: clusterTargets },
  ...STEPS.filter((s) => s.run !== publishConfig),
  { name: 'publish-cluster-config', run: publishClusterConfig },
];
