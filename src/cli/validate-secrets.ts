/**
 * The checks of `mailroom validate` on the values of Secrets in the manifest set (URI, CA bundle,
 * DKIM key): the controller's own input steps, run offline (`controller/offline.ts`), so each
 * finding has the reason and message the sender's `Ready` condition would have.
 *
 * @module
 */
import type { EmailSenderSpec } from '../api/emailsender.ts';
import type { AnySender, SenderKind } from '../controller/kinds.ts';
import { checkInputs, SecretManifestError, type SecretSource } from '../controller/offline.ts';
import type { SecretData } from '../kube/secrets.ts';
import { redactedUri } from '../smtp/uri.ts';
import type { Finding } from './validate-manifests.ts';

/** Where a finding sits: everything of a {@link Finding} but what was found. */
export type At = Omit<Finding, 'severity' | 'code' | 'message'>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A Secret manifest as the API server would store it: `data` decoded, `stringData` merged over it
 * (the API server applies it last), `metadata.uid` when the manifest has one. Data that is not
 * base64 would be refused by the API server: a {@link SecretManifestError} says which key.
 */
export function secretFromManifest(secret: Record<string, unknown>, name: string): SecretData {
  const out: Record<string, string> = {};
  const data = isObject(secret.data) ? secret.data : {};
  for (const [key, encoded] of Object.entries(data)) {
    if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded.replace(/\s/g, '')))
      throw new SecretManifestError(`Secret ${name}: data.${key} is not base64`);
    out[key] = Buffer.from(encoded, 'base64').toString('utf8');
  }
  const stringData = isObject(secret.stringData) ? secret.stringData : {};
  for (const [key, value] of Object.entries(stringData)) if (typeof value === 'string') out[key] = value;
  const meta = isObject(secret.metadata) ? secret.metadata : {};
  // The revision key needs a uid; a manifest has none until it is applied.
  return { uid: typeof meta.uid === 'string' ? meta.uid : `manifest:${name}`, data: out };
}

/**
 * Runs the controller's input steps on one sender against the Secrets of the set, and turns how
 * each ended into findings: a failure is an error with the step's reason as its code; a Secret not
 * in the set an info (the cluster may hold it); the parsed URI an info (redacted) and its warnings.
 * Every secret value read is pushed to `secrets`, so the caller can redact it from every message.
 */
export async function secretFindings(
  kind: SenderKind,
  sender: AnySender,
  spec: EmailSenderSpec,
  source: SecretSource,
  at: At,
  secrets: string[],
): Promise<Finding[]> {
  const { checks, state } = await checkInputs(kind, sender, spec, source);
  for (const value of [state.uri, state.parsed?.endpoint.password, state.dkimKey])
    if (value) secrets.push(value);
  const out: Finding[] = [];
  for (const check of checks) {
    const path = check.step.reads ?? check.step.name;
    if (check.result === 'not-in-set')
      out.push({
        ...at,
        severity: 'info',
        code: 'SecretNotInSet',
        path,
        message: `Secret ${check.secretName} is not among these manifests: ${path} was not checked`,
      });
    else if (check.result === 'unreadable')
      out.push({ ...at, severity: 'error', code: 'InvalidSecret', path, message: check.message });
    else if (check.result === 'failed') {
      const { reason, message } = check.outcome;
      out.push({
        ...at,
        severity: 'error',
        code: reason,
        path: reason === 'SecretKeyNotFound' ? `${path}.key` : path,
        message,
      });
    }
  }
  const parsed = state.parsed;
  if (parsed) {
    const ref = spec.smtp.uriSecretRef;
    const where = `Secret ${ref.name} key ${ref.key}`;
    const path = 'spec.smtp.uriSecretRef';
    const { endpoint, warnings } = parsed;
    out.push({
      ...at,
      severity: 'info',
      code: 'URI',
      path,
      message: `${where}: ${redactedUri(endpoint)} (${endpoint.security})`,
    });
    for (const w of warnings)
      out.push({ ...at, severity: 'warning', code: w.code, path, message: `${where}: ${w.message}` });
  }
  return out;
}
