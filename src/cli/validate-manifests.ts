/**
 * Offline checks of EmailSender and ClusterEmailSender manifests, for GitOps CI (`mailroom validate`):
 * the spec schema the controller parses with, then the controller's own input steps (the SMTP URI,
 * the CA bundle, the DKIM key) on the referenced Secrets the manifest set carries. Takes texts,
 * returns findings; reading files and printing belong to the command (`validate.ts`).
 *
 * @module
 */
import { type Document, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { CLUSTER_KIND } from '../api/clusteremailsender.ts';
import { GROUP, KIND, VERSION } from '../api/emailsender.ts';
import {
  type AnySender,
  clusterEmailSenders as clusterSenderKind,
  EMAIL_SENDERS,
} from '../controller/kinds.ts';
import { redactSecrets } from '../runtime/redact.ts';
import { secretFindings, secretFromManifest } from './validate-secrets.ts';

/** One manifest file's text; `file` is how findings name it (`-` reads as `<stdin>`). */
export interface Source {
  file: string;
  text: string;
}

/** `error` makes the set invalid; `warning` and `info` do not. */
export type Severity = 'error' | 'warning' | 'info';

/** One thing found in one document. */
export interface Finding {
  severity: Severity;
  file: string;
  /** 1-based index of the YAML document in its file (the first `---` section is 1). */
  document: number;
  /** `Kind namespace/name` (or `Kind name`) of the object, when it has one. */
  object?: string;
  /** Field path as the apiserver writes it, e.g. `spec.headers[X-Tag]`. */
  path?: string;
  /** Stable code for scripts: `Schema`, `YAML`, `InvalidURI`, `SecretKeyNotFound`, a URI warning code… */
  code: string;
  message: string;
}

/** What {@link validateManifests} found. */
export interface ValidationReport {
  /** True when no finding is an error. */
  valid: boolean;
  emailSenders: number;
  clusterEmailSenders: number;
  /** Documents that are not senders of either kind (Secrets included). */
  skipped: number;
  findings: Finding[];
}

interface Located {
  file: string;
  document: number;
  object: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Fields that are maps: the segment after them is a key, written in brackets as the apiserver does. */
const MAP_FIELDS = new Set(['spec.headers', 'spec.namespaceSelector.matchLabels']);

/** `spec.headers[X-Tag]`, `status.conditions[0]`: the apiserver's way of writing a path. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    const text = String(s);
    if (typeof s === 'number' || MAP_FIELDS.has(out) || !/^[A-Za-z_$][\w$]*$/.test(text)) out += `[${text}]`;
    else out += out === '' ? text : `.${text}`;
  }
  return out;
}

const describeObject = (o: Record<string, unknown>): string | undefined => {
  const meta = isObject(o.metadata) ? o.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : undefined;
  const kind = typeof o.kind === 'string' ? o.kind : 'object';
  if (!name) return typeof o.kind === 'string' ? kind : undefined;
  return typeof meta.namespace === 'string' ? `${kind} ${meta.namespace}/${name}` : `${kind} ${name}`;
};

/**
 * zod issues as findings: one per unknown key so each names its field, the reason a map key was
 * refused rather than zod's "Invalid key", and only the first message per field (the range check of
 * a duration that is no duration at all adds nothing).
 */
function schemaFindings(
  error: z.ZodError,
  prefix: string[],
  at: Omit<Finding, 'severity' | 'code' | 'message'>,
) {
  const out: Finding[] = [];
  const add = (segments: readonly PropertyKey[], message: string) => {
    const path = formatPath([...prefix, ...segments]);
    if (!out.some((f) => f.path === path))
      out.push({ ...at, severity: 'error', code: 'Schema', path, message });
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys')
      for (const key of issue.keys) add([...issue.path, key], 'unknown field');
    else if (issue.code === 'invalid_key') for (const inner of issue.issues) add(issue.path, inner.message);
    else add(issue.path, issue.message);
  }
  return out;
}

/** Reads every YAML document of every source; syntax errors become findings. */
function readDocuments(sources: readonly Source[], findings: Finding[]): Located[] {
  const out: Located[] = [];
  for (const { file, text } of sources) {
    const docs: Document.Parsed[] = parseAllDocuments(text) as Document.Parsed[];
    docs.forEach((doc, i) => {
      const document = i + 1;
      if (doc.errors.length > 0) {
        for (const e of doc.errors)
          findings.push({
            severity: 'error',
            file,
            document,
            code: 'YAML',
            message: e.message.split('\n')[0]!.replace(/:$/, ''),
          });
        return;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) return; // an empty document, e.g. a trailing ---
      if (!isObject(value)) {
        findings.push({
          severity: 'error',
          file,
          document,
          code: 'YAML',
          message: 'the document is not a mapping (a Kubernetes object)',
        });
        return;
      }
      out.push({ file, document, object: value });
    });
  }
  return out;
}

const secretKey = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

/** Options of {@link validateManifests}. */
export interface ValidateManifestsOptions {
  /**
   * Where ClusterEmailSenders' Secrets live (the controller's `--cluster-resource-namespace`).
   * Default `mailroom-system`, the namespace of `deploy/`. Secret manifests without a namespace
   * (kustomize sets it later) are found too.
   */
  clusterResourceNamespace?: string;
}

/** The cluster-resource namespace of `deploy/`. */
export const DEFAULT_CLUSTER_RESOURCE_NAMESPACE = 'mailroom-system';

/**
 * Checks a set of manifests: each EmailSender and ClusterEmailSender against the schema its kind
 * parses with, then the controller's input steps on the Secrets it references that the set holds
 * (for a ClusterEmailSender, in the cluster-resource namespace): the URI, the CA bundle, the DKIM
 * key, with the reasons and messages the controller would set. No finding ever holds a secret: the
 * steps never quote one, URIs are shown redacted (`smtp://user:***@host:587/`), and every value read
 * is cut out of every message at the end.
 *
 * @example
 * (await validateManifests([{ file: 'sender.yaml', text }])).valid
 */
export async function validateManifests(
  sources: readonly Source[],
  opts: ValidateManifestsOptions = {},
): Promise<ValidationReport> {
  const clusterNs = opts.clusterResourceNamespace ?? DEFAULT_CLUSTER_RESOURCE_NAMESPACE;
  const clusterKind = clusterSenderKind(clusterNs);
  const findings: Finding[] = [];
  const docs = readDocuments(sources, findings);
  const secrets = new Map<string, Record<string, unknown>>();
  for (const d of docs) {
    const meta = isObject(d.object.metadata) ? d.object.metadata : {};
    if (d.object.apiVersion === 'v1' && d.object.kind === 'Secret' && typeof meta.name === 'string')
      secrets.set(secretKey(meta.namespace as string | undefined, meta.name), d.object);
  }

  let emailSenders = 0;
  let clusterEmailSenders = 0;
  let skipped = 0;
  const uris: string[] = [];
  const seen = new Map<string, Located>();
  for (const d of docs) {
    const o = d.object;
    const object = describeObject(o);
    const at = { file: d.file, document: d.document, ...(object ? { object } : {}) };
    const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
    const cluster = o.kind === CLUSTER_KIND;
    if ((o.kind !== KIND && !cluster) || !apiVersion.startsWith(`${GROUP}/`)) {
      skipped++;
      findings.push({
        ...at,
        severity: 'info',
        code: 'Skipped',
        message: `skipped: ${apiVersion || '<no apiVersion>'} ${String(o.kind ?? '<no kind>')} is not an EmailSender or a ClusterEmailSender`,
      });
      continue;
    }
    if (cluster) clusterEmailSenders++;
    else emailSenders++;
    if (apiVersion !== `${GROUP}/${VERSION}`) {
      findings.push({
        ...at,
        severity: 'error',
        code: 'Schema',
        path: 'apiVersion',
        message: `unsupported version: this mailroom knows ${GROUP}/${VERSION}`,
      });
      continue;
    }
    const meta = isObject(o.metadata) ? o.metadata : {};
    if (typeof meta.name !== 'string' || meta.name === '') {
      findings.push({
        ...at,
        severity: 'error',
        code: 'Schema',
        path: 'metadata.name',
        message: 'Required value',
      });
    } else if (meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) {
      findings.push({
        ...at,
        severity: 'error',
        code: 'Schema',
        path: 'metadata.name',
        message: 'must be a lowercase DNS subdomain name (letters, digits, "-", ".")',
      });
    } else {
      const id = `${String(o.kind)}/${cluster ? '' : String(meta.namespace ?? '')}/${meta.name}`;
      const first = seen.get(id);
      if (first)
        findings.push({
          ...at,
          severity: 'error',
          code: 'Duplicate',
          path: 'metadata.name',
          message: `the same ${String(o.kind)} is also defined in ${first.file}, document ${first.document}`,
        });
      else seen.set(id, d);
    }
    for (const key of Object.keys(o)) {
      if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(key))
        findings.push({ ...at, severity: 'error', code: 'Schema', path: key, message: 'unknown field' });
    }
    const kind = cluster ? clusterKind : EMAIL_SENDERS;
    const parsed = kind.specSchema.safeParse(o.spec);
    if (!parsed.success) {
      findings.push(...schemaFindings(parsed.error, ['spec'], at));
      continue;
    }
    // The steps read from the kind's one Secret namespace (for a ClusterEmailSender the
    // cluster-resource namespace only, where a Secret manifest without a namespace, which kustomize
    // places later, is taken to go).
    const source = (namespace: string, name: string) => {
      const manifest =
        secrets.get(secretKey(namespace, name)) ??
        (cluster ? secrets.get(secretKey(undefined, name)) : undefined);
      return manifest && secretFromManifest(manifest, name);
    };
    // The manifest stands for the object the controller would read from its cache.
    const sender = o as unknown as AnySender;
    findings.push(...(await secretFindings(kind, sender, parsed.data, source, at, uris)));
  }
  // Belt and braces: the messages are built never to quote a URI, but should one ever do so, the
  // raw values read from Secrets are cut out here, before anything can print them.
  for (const f of findings) f.message = redactSecrets(f.message, uris);
  return {
    valid: !findings.some((f) => f.severity === 'error'),
    emailSenders,
    clusterEmailSenders,
    skipped,
    findings,
  };
}
