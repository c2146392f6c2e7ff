/**
 * Step 4: publish the rendered config Secret (`<name>-mailroom`, owned by the EmailSender). Runs
 * only after a successful probe, so the Secret always holds the last known good config. A Secret
 * of that name that the sender does not control (no controller owner reference with its uid) is
 * never written: the sender stalls with `ConfigSecretConflict` until it is renamed or deleted.
 *
 * @module
 */
import { renderedSecretName } from '../../api/rendered-config.ts';
import { rfc3339 } from '../conditions.ts';
import { StalledError } from '../errors.ts';
import type { Step } from '../types.ts';

/** Writes `state.desired` unless the Secret already holds that revision; sets `state.published`. */
export const publishConfig: Step = async (state, deps) => {
  const desired = state.desired;
  if (!desired || !state.probe?.ok) throw new Error('publish-config step needs a verified config');
  const { namespace, name, uid } = state.sender.metadata;
  if (!namespace) throw new Error('publish-config step is for EmailSenders (namespaced)');
  const secretName = renderedSecretName(name);
  const current = deps.published(namespace, secretName, uid ?? '');
  if (current?.revision === desired.revision) {
    state.published = current;
    return;
  }
  const publishedAt = rfc3339(deps.clock.now());
  const write = await deps.kube.writeConfigSecret({
    namespace,
    name: secretName,
    owner: { name, uid: uid ?? '' },
    revision: desired.revision,
    publishedAt,
    body: `${JSON.stringify(desired, null, 2)}\n`,
  });
  if (!write.written) {
    const held = write.heldBy ? `controlled by ${write.heldBy}` : 'not controlled by any object';
    throw new StalledError(
      'ConfigSecretConflict',
      `Secret "${secretName}" already exists and is ${held}, not by this EmailSender: Mailroom publishes the config of EmailSender "${name}" there and never overwrites a Secret it does not own. Rename or delete that Secret (or rename this EmailSender); the sender recovers by itself once the name is free`,
    );
  }
  state.published = { secretName, revision: desired.revision, publishedAt };
  state.notes.push({
    type: 'Normal',
    reason: 'ConfigPublished',
    action: 'Publish',
    note: `published config revision ${desired.revision} to Secret ${secretName}`,
    ridesAlong: true,
  });
};
