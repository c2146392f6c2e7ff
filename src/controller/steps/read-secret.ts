/**
 * Steps 1 and 2: read the URI and the optional CA bundle from Secrets in the sender's namespace (for
 * a ClusterEmailSender, the cluster-resource namespace: never an application's), each parsed or
 * checked as it is read, so the rest of the reconcile carries the typed value.
 *
 * @module
 */
import { caBundleSchema, smtpUriSchema, uriFieldOf } from '../../api/secret-values.ts';
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

/** Reads `spec.smtp.uriSecretRef` into `state.uri` and parses it, once, into `state.parsed`. */
export const readUri: Step = async (state, deps) => {
  const ref = state.spec.smtp.uriSecretRef;
  state.uri = await readKey(state, deps, ref, 'spec.smtp.uriSecretRef', 'uri');
  const r = smtpUriSchema.safeParse(state.uri);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // The schema's messages never quote the URI; the reconciler redacts the Secret's values anyway.
    throw new StalledError(
      'InvalidURI',
      `the URI in Secret "${ref.name}" key "${ref.key}" is invalid (${uriFieldOf(issue) ?? 'uri'}): ${issue.message}`,
    );
  }
  state.parsed = r.data;
};

/** Reads `spec.smtp.caSecretRef`, when there is one, into `state.ca`, checked to hold certificates. */
export const readCa: Step = async (state, deps) => {
  const ref = state.spec.smtp.caSecretRef;
  if (!ref) return;
  const ca = await readKey(state, deps, ref, 'spec.smtp.caSecretRef', 'ca.crt');
  const checked = caBundleSchema.safeParse(ca);
  if (!checked.success)
    throw new StalledError(
      'InvalidCA',
      `Secret "${ref.name}" key "${ref.key}": ${checked.error.issues[0]!.message}`,
    );
  state.ca = ca;
};
