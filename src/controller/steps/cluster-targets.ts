/**
 * ClusterEmailSender step 0: where its config belongs now (namespaces its selector allows that have
 * consumers), and removing the copies from every namespace that stopped being one. Runs first, so a
 * namespace relabelled, a selector narrowed or a last consumer gone loses its copy at once, whatever
 * the probe says after.
 *
 * @module
 */
import { clusterRenderedSecretName } from '../../api/clusteremailsender.ts';
import type { LabelSelector } from '../../api/label-selector.ts';
import type { Step, StepDeps } from '../types.ts';

/** Deletes every copy of `name`'s config outside `keep`; returns the namespaces that keep one. */
export async function pruneCopies(deps: StepDeps, name: string, keep: readonly string[]): Promise<string[]> {
  const cluster = deps.cluster;
  if (!cluster) throw new Error('a ClusterEmailSender needs the cluster dependencies');
  const secretName = clusterRenderedSecretName(name);
  const kept: string[] = [];
  for (const namespace of cluster.copies(name).keys()) {
    if (keep.includes(namespace)) kept.push(namespace);
    else await deps.kube.deleteConfigSecret(namespace, secretName);
  }
  return kept.sort();
}

/** Sets `state.targets` and `state.namespaces` (the copies kept). */
export const clusterTargets: Step = async (state, deps) => {
  const cluster = deps.cluster;
  if (!cluster) throw new Error('a ClusterEmailSender needs the cluster dependencies');
  const { name } = state.sender.metadata;
  const selector = (state.spec as { namespaceSelector?: LabelSelector }).namespaceSelector;
  state.targets = cluster.targets(name, selector);
  state.namespaces = await pruneCopies(deps, name, state.targets.namespaces);
};
