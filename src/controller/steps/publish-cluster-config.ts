/**
 * ClusterEmailSender step 5: publish the rendered config (`<name>-cluster-mailroom`, owned by the
 * ClusterEmailSender) into every target namespace. Runs only after a successful probe, as for an
 * EmailSender, so every copy holds the last known good config; a namespace that became a target
 * while the probe fails gets its copy with the next good probe.
 *
 * @module
 */
import { clusterRenderedSecretName } from '../../api/clusteremailsender.ts';
import { rfc3339 } from '../conditions.ts';
import type { PublishedConfig, Step } from '../types.ts';

/**
 * Writes `state.desired` into each target namespace whose copy holds another revision; sets
 * `state.published` (the revision every copy now holds) and `state.namespaces`. A Secret of the same
 * name that is not Mailroom's is never overwritten: that namespace is skipped, with a Warning.
 */
export const publishClusterConfig: Step = async (state, deps) => {
  const desired = state.desired;
  const cluster = deps.cluster;
  if (!desired || !state.probe?.ok) throw new Error('publish-cluster-config step needs a verified config');
  if (!cluster || !state.targets) throw new Error('publish-cluster-config step needs the targets');
  const { name, uid } = state.sender.metadata;
  const secretName = clusterRenderedSecretName(name);
  const copies = cluster.copies(name);
  const publishedAt = rfc3339(deps.clock.now());
  const written: string[] = [];
  const published: string[] = [];
  let latest: PublishedConfig | undefined;
  for (const namespace of state.targets.namespaces) {
    const current = copies.get(namespace);
    if (current?.revision === desired.revision) {
      published.push(namespace);
      if (!latest || current.publishedAt > latest.publishedAt) latest = current;
      continue;
    }
    if (!current && cluster.foreign(namespace, secretName)) {
      state.notes.push({
        type: 'Warning',
        reason: 'ConfigSecretConflict',
        action: 'Publish',
        note: `Secret ${namespace}/${secretName} exists and is not Mailroom's: not overwritten; that namespace gets no config until it is removed`,
      });
      continue;
    }
    const write = await deps.kube.writeConfigSecret({
      namespace,
      name: secretName,
      owner: { name, uid: uid ?? '', kind: 'ClusterEmailSender' },
      revision: desired.revision,
      publishedAt,
      body: `${JSON.stringify(desired, null, 2)}\n`,
    });
    if (!write.written) {
      state.notes.push({
        type: 'Warning',
        reason: 'ConfigSecretConflict',
        action: 'Publish',
        note: `Secret ${namespace}/${secretName} is controlled by another owner: not overwritten; that namespace gets no config until it is removed`,
      });
      continue;
    }
    written.push(namespace);
    published.push(namespace);
  }
  state.namespaces = published.sort();
  if (written.length > 0) latest = { secretName, revision: desired.revision, publishedAt };
  if (latest) state.published = latest;
  if (written.length > 0)
    state.notes.push({
      type: 'Normal',
      reason: 'ConfigPublished',
      action: 'Publish',
      note: `published config revision ${desired.revision} as Secret ${secretName} in ${written.length === 1 ? 'namespace' : 'namespaces'} ${written.join(', ')}`,
      ridesAlong: true,
    });
};
