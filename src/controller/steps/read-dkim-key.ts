/**
 * Step 1b: read the DKIM private key named by `spec.dkim.privateKeySecretRef`, so the rendered
 * config carries it and the deliverability check can sign with exactly the key the sidecar will.
 *
 * @module
 */
import { loadDkimSigningKey } from '../../api/secret-values.ts';
import { StalledError } from '../errors.ts';
import type { Step } from '../types.ts';
import { readKey } from './read-secret.ts';

/** Reads and validates the key into `state.dkimKey`; nothing to do without `spec.dkim`. */
export const readDkimKey: Step = async (state, deps) => {
  const dkim = state.spec.dkim;
  if (!dkim) return;
  const ref = dkim.privateKeySecretRef;
  const pem = await readKey(state, deps, ref, 'spec.dkim.privateKeySecretRef', 'private.pem');
  try {
    loadDkimSigningKey(pem);
  } catch (err) {
    // The message never quotes the key: loadPrivateKey keeps only the parser's first line.
    throw new StalledError(
      'InvalidDKIMKey',
      `Secret "${ref.name}" key "${ref.key}": ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  state.dkimKey = pem;
};
