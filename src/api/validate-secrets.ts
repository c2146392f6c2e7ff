/**
 * The checks of `mailroom validate` on the values of Secrets in the manifest set (URI, CA bundle,
 * DKIM key), through the same parsers as the controller's steps (`secret-values.ts`).
 *
 * @module
 */
import { redactedUri } from '../smtp/uri.ts';
import type { EmailSenderSpec } from './emailsender.ts';
import { caBundleSchema, dkimPrivateKeySchema, smtpUriSchema, uriFieldOf } from './secret-values.ts';
import type { Finding } from './validate.ts';

/** Where a finding sits: everything of a {@link Finding} but what was found. */
export type At = Omit<Finding, 'severity' | 'code' | 'message'>;

/** The Secret manifest of the set a reference names, as the sender kind looks it up. */
export type SecretLookup = (name: string) => Record<string, unknown> | undefined;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value of `key` in a Secret manifest (stringData wins, as the apiserver merges it last). */
function secretValue(secret: Record<string, unknown>, key: string): { value?: string; problem?: string } {
  const stringData = isObject(secret.stringData) ? secret.stringData : {};
  if (typeof stringData[key] === 'string') return { value: stringData[key] };
  const data = isObject(secret.data) ? secret.data : {};
  const encoded = data[key];
  if (encoded === undefined) return {};
  if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded.replace(/\s/g, '')))
    return { problem: `data.${key} is not base64` };
  return { value: Buffer.from(encoded, 'base64').toString('utf8') };
}

/** The URI (and CA bundle) checks, when the referenced Secrets are in the set. */
export function uriFindings(
  smtp: EmailSenderSpec['smtp'],
  secretNamed: SecretLookup,
  at: At,
  uris: string[],
): Finding[] {
  const out: Finding[] = [];
  const ref = smtp.uriSecretRef;
  const path = 'spec.smtp.uriSecretRef';
  const secret = secretNamed(ref.name);
  if (!secret) {
    out.push({
      ...at,
      severity: 'info',
      code: 'SecretNotInSet',
      path,
      message: `Secret ${ref.name} is not among these manifests: the URI was not checked`,
    });
  } else {
    const { value, problem } = secretValue(secret, ref.key);
    if (problem)
      out.push({
        ...at,
        severity: 'error',
        code: 'InvalidURI',
        path,
        message: `Secret ${ref.name}: ${problem}`,
      });
    else if (value === undefined)
      out.push({
        ...at,
        severity: 'error',
        code: 'SecretKeyNotFound',
        path: `${path}.key`,
        message: `Secret ${ref.name} has no key "${ref.key}" in data or stringData`,
      });
    else {
      uris.push(value);
      // The controller's own parser (parse-uri step): the same rule, the same messages.
      const parsed = smtpUriSchema.safeParse(value);
      if (parsed.success) {
        const { endpoint, warnings } = parsed.data;
        out.push({
          ...at,
          severity: 'info',
          code: 'URI',
          path,
          message: `Secret ${ref.name} key ${ref.key}: ${redactedUri(endpoint)} (${endpoint.security})`,
        });
        for (const w of warnings)
          out.push({
            ...at,
            severity: 'warning',
            code: w.code,
            path,
            message: `Secret ${ref.name} key ${ref.key}: ${w.message}`,
          });
      } else {
        const issue = parsed.error.issues[0]!;
        out.push({
          ...at,
          severity: 'error',
          code: 'InvalidURI',
          path,
          message: `Secret ${ref.name} key ${ref.key}: ${uriFieldOf(issue) ?? 'uri'}: ${issue.message}`,
        });
      }
    }
  }
  const ca = smtp.caSecretRef;
  const caSecret = ca && secretNamed(ca.name);
  if (ca && caSecret) {
    const { value, problem } = secretValue(caSecret, ca.key);
    const caPath = 'spec.smtp.caSecretRef';
    if (problem)
      out.push({
        ...at,
        severity: 'error',
        code: 'InvalidCA',
        path: caPath,
        message: `Secret ${ca.name}: ${problem}`,
      });
    else if (value === undefined)
      out.push({
        ...at,
        severity: 'error',
        code: 'SecretKeyNotFound',
        path: `${caPath}.key`,
        message: `Secret ${ca.name} has no key "${ca.key}" in data or stringData`,
      });
    else {
      // The controller's own check (read-secret step).
      const checked = caBundleSchema.safeParse(value);
      if (!checked.success)
        out.push({
          ...at,
          severity: 'error',
          code: 'InvalidCA',
          path: caPath,
          message: `Secret ${ca.name} key ${ca.key}: ${checked.error.issues[0]!.message}`,
        });
    }
  }
  return out;
}

/** The DKIM key check of the read-dkim-key step, when the key's Secret is in the set. */
export function dkimFindings(
  dkim: EmailSenderSpec['dkim'],
  secretNamed: SecretLookup,
  at: At,
  keys: string[],
): Finding[] {
  const ref = dkim?.privateKeySecretRef;
  const secret = ref && secretNamed(ref.name);
  if (!ref || !secret) return [];
  const path = 'spec.dkim.privateKeySecretRef';
  const { value, problem } = secretValue(secret, ref.key);
  const error = (code: string, p: string, message: string): Finding[] => [
    { ...at, severity: 'error', code, path: p, message },
  ];
  if (problem) return error('InvalidDKIMKey', path, `Secret ${ref.name}: ${problem}`);
  if (value === undefined)
    return error(
      'SecretKeyNotFound',
      `${path}.key`,
      `Secret ${ref.name} has no key "${ref.key}" in data or stringData`,
    );
  keys.push(value);
  const checked = dkimPrivateKeySchema.safeParse(value);
  return checked.success
    ? []
    : error('InvalidDKIMKey', path, `Secret ${ref.name} key ${ref.key}: ${checked.error.issues[0]!.message}`);
}
