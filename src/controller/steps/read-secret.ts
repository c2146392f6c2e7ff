/**
 * Step 1: read the URI (and the optional CA bundle) from Secrets in the sender's namespace (for a
 * ClusterEmailSender, the cluster-resource namespace: never an application's).
 *
 * @module
 */
import { caBundleSchema } from '../../api/secret-values.ts';
import { StalledError } from '../errors.ts';
import type { ReconcileState, Step, StepDeps } from '../types.ts';

/**
 * Reads one key of a Secret in the sender's namespace, and records the Secret's uid in
 * `state.secretUids` (the key of the config revision: see `configRevision`).
 */
export async function readKey(
  state: ReconcileState,
  deps: StepDeps,
  ref: { name: string; key?: string },
  field: string,
  defaultKey: string,
): Promise<string> {
  const namespace = state.secretNamespace;
  const key = ref.key ?? defaultKey;
  const secret = await deps.kube.readSecret(namespace, ref.name);
  if (!secret) {
    throw new StalledError(
      'SecretNotFound',
      `Secret "${ref.name}" (${field}) not found in namespace "${namespace}": create it with key "${key}"`,
    );
  }
  const { data, uid } = secret;
  // The API server always sets it; without it the revision could not be keyed.
  if (!uid) throw new Error(`Secret "${ref.name}" has no metadata.uid`);
  const value = data[key];
  if (value === undefined) {
    const keys = Object.keys(data).sort();
    throw new StalledError(
      'SecretKeyNotFound',
      `Secret "${ref.name}" (${field}) has no key "${key}"; it has ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'no keys'}`,
    );
  }
  state.secretUids = [...(state.secretUids ?? []), uid];
  return value;
}

/** Reads `spec.smtp.uriSecretRef` into `state.uri` and `spec.smtp.caSecretRef` into `state.ca`. */
export const readSecret: Step = async (state, deps) => {
  const smtp = state.spec.smtp;
  state.uri = await readKey(state, deps, smtp.uriSecretRef, 'spec.smtp.uriSecretRef', 'uri');
  if (smtp.caSecretRef) {
    const ca = await readKey(state, deps, smtp.caSecretRef, 'spec.smtp.caSecretRef', 'ca.crt');
    const checked = caBundleSchema.safeParse(ca);
    if (!checked.success) {
      const where = `Secret "${smtp.caSecretRef.name}" key "${smtp.caSecretRef.key}"`;
      throw new StalledError('InvalidCA', `${where}: ${checked.error.issues[0]!.message}`);
    }
    state.ca = ca;
  }
};
