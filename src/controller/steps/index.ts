/**
 * The reconcile steps, in the order they run, each with the hooks it asks for. The first failure
 * stops the chain.
 *
 * @module
 */
import type { ReconcileStep } from '../types.ts';
import { clusterTargets } from './cluster-targets.ts';
import { deliverability } from './deliverability.ts';
import { parseUri } from './parse-uri.ts';
import { probe } from './probe.ts';
import { publishClusterConfig } from './publish-cluster-config.ts';
import { publishConfig } from './publish-config.ts';
import { readDkimKey } from './read-dkim-key.ts';
import { readSecret } from './read-secret.ts';

/**
 * read-secret → read-dkim-key → parse-uri → deliverability (started, runs beside the probe) →
 * probe → publish-config.
 */
export const STEPS: readonly ReconcileStep[] = [
  { name: 'read-secret', run: readSecret },
  { name: 'read-dkim-key', run: readDkimKey },
  { name: 'parse-uri', run: parseUri },
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
