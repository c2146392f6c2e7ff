/**
 * Step 1: read the URI (and the optional CA bundle) from Secrets in the sender's namespace.
 *
 * @module
 */
import { parsePemBundle } from '../../smtp/trust.ts';
import { StalledError } from '../errors.ts';
import type { Step, StepDeps } from '../types.ts';

export async function readKey(
  deps: StepDeps,
  namespace: string,
  ref: { name: string; key?: string },
  field: string,
  defaultKey: string,
): Promise<string> {
  const key = ref.key ?? defaultKey;
  const data = await deps.kube.readSecret(namespace, ref.name);
  if (!data) {
    throw new StalledError(
      'SecretNotFound',
      `Secret "${ref.name}" (${field}) not found in namespace "${namespace}": create it with key "${key}"`,
    );
  }
  const value = data[key];
  if (value === undefined) {
    const keys = Object.keys(data).sort();
    throw new StalledError(
      'SecretKeyNotFound',
      `Secret "${ref.name}" (${field}) has no key "${key}"; it has ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'no keys'}`,
    );
  }
  return value;
}

/** Reads `spec.smtp.uriSecretRef` into `state.uri` and `spec.smtp.caSecretRef` into `state.ca`. */
export const readSecret: Step = async (state, deps) => {
  const { namespace } = state.sender.metadata;
  const smtp = state.spec.smtp;
  state.uri = await readKey(deps, namespace, smtp.uriSecretRef, 'spec.smtp.uriSecretRef', 'uri');
  if (smtp.caSecretRef) {
    const ca = await readKey(deps, namespace, smtp.caSecretRef, 'spec.smtp.caSecretRef', 'ca.crt');
    try {
      parsePemBundle(ca, `Secret "${smtp.caSecretRef.name}" key "${smtp.caSecretRef.key}"`);
    } catch (err) {
      throw new StalledError('InvalidCA', (err as Error).message, { cause: err });
    }
    state.ca = ca;
  }
};
