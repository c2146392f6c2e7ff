/**
 * The CustomResourceDefinitions of EmailSender and ClusterEmailSender, generated from the zod
 * schemas in `emailsender.ts` and `clusteremailsender.ts`.
 *
 * `z.toJSONSchema` gives JSON Schema 2020-12; the apiserver wants a *structural* OpenAPI v3 schema.
 * {@link toStructural} bridges the two: it drops what Kubernetes does not accept
 * (`$schema`, `additionalProperties: false`, `propertyNames`, the `email` format), turns zod regex
 * checks that carry a message into CEL rules with that message (so the apiserver and
 * `mailroom validate` say the same thing), and refuses anything it cannot translate faithfully.
 *
 * @module
 */
import { stringify } from 'yaml';
import { type core, z } from 'zod';
import { type CelRule, celString } from './cel.ts';
import {
  CLUSTER_KIND,
  CLUSTER_PLURAL,
  clusterEmailSenderSpecSchema,
  clusterEmailSenderStatusSchema,
} from './clusteremailsender.ts';
import {
  emailSenderSpecSchema,
  emailSenderStatusSchema,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
} from './emailsender.ts';

/** A node of a JSON/OpenAPI schema, as plain data. */
export type SchemaNode = { [key: string]: unknown };

/** Path of the generated EmailSender CRD inside the repository. */
export const CRD_PATH = `crds/${GROUP}_${PLURAL}.yaml`;

/**
 * Every checked-in copy of a CRD: kustomize loads nothing from outside `deploy/` and helm nothing
 * from outside its chart, so each holds its own.
 */
export const crdPaths = (plural: string) =>
  [
    `crds/${GROUP}_${plural}.yaml`,
    `deploy/crds/${GROUP}_${plural}.yaml`,
    `charts/mailroom/crds/${GROUP}_${plural}.yaml`,
  ] as const;

/** Every checked-in copy of the EmailSender CRD. */
export const CRD_PATHS = crdPaths(PLURAL);

const VALIDATIONS = 'x-kubernetes-validations';

// Keywords a structural schema may hold; anything else from zod is a translation gap.
const ALLOWED = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'default',
  'enum',
  'format',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'nullable',
  VALIDATIONS,
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

/** The message of a check made with `{ error: '…' }`, if it has one. */
function customMessage(def: { error?: unknown }): string | undefined {
  if (typeof def.error !== 'function') return undefined;
  const message = (def.error as (issue: unknown) => unknown)({ input: '' });
  return typeof message === 'string' ? message : undefined;
}

/**
 * `z.toJSONSchema` override: a regex with a custom message becomes a CEL rule carrying it, since
 * the apiserver's own message for `pattern` is the bare expression.
 */
function regexToCel(ctx: { zodSchema: core.$ZodTypes; jsonSchema: core.JSONSchema.BaseSchema }): void {
  const def = ctx.zodSchema._zod.def as {
    type: string;
    format?: string;
    pattern?: RegExp;
    error?: unknown;
    checks?: { _zod: { def: { check: string; format?: string; pattern?: RegExp; error?: unknown } } }[];
  };
  if (def.type !== 'string') return;
  const regexes: { pattern: RegExp; message: string | undefined }[] = [];
  if (def.pattern && def.format) regexes.push({ pattern: def.pattern, message: customMessage(def) });
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === 'string_format' && c.pattern) {
      regexes.push({ pattern: c.pattern, message: customMessage(c) });
    }
  }
  if (!regexes.some((r) => r.message)) return;
  const js = ctx.jsonSchema as SchemaNode;
  delete js.pattern;
  delete js.allOf;
  // Kubernetes' own `email` format uses another expression; one rule, one message.
  if (js.format === 'email') delete js.format;
  const rules = regexes.map(
    (r): CelRule => ({
      rule: `self.matches(${celString(r.pattern.source)})`,
      message: r.message ?? `must match ${r.pattern.source}`,
    }),
  );
  js[VALIDATIONS] = [...rules, ...((js[VALIDATIONS] as CelRule[] | undefined) ?? [])];
}

/** Map-key checks (`propertyNames`) as CEL rules on the map itself. */
function keyRules(names: SchemaNode): CelRule[] {
  const rules: CelRule[] = [];
  const min = names.minLength as number | undefined;
  const max = names.maxLength as number | undefined;
  if (min !== undefined || max !== undefined) {
    const bounds = [min !== undefined && `size(k) >= ${min}`, max !== undefined && `size(k) <= ${max}`];
    rules.push({
      rule: `self.all(k, ${bounds.filter(Boolean).join(' && ')})`,
      message: `keys must be ${min ?? 0} to ${max ?? 'any number of'} characters long`,
    });
  }
  if (typeof names.pattern === 'string') {
    rules.push({ rule: `self.all(k, k.matches(${celString(names.pattern)}))`, message: 'keys must match' });
  }
  for (const r of (names[VALIDATIONS] as CelRule[] | undefined) ?? []) {
    rules.push({ rule: `self.all(k, ${r.rule.replace(/\bself\b/g, 'k')})`, message: `keys ${r.message}` });
  }
  return rules;
}

/**
 * Rewrites a JSON Schema from `z.toJSONSchema` into a structural OpenAPI v3 schema, in place
 * order-preserving, and checks that every property has a description. Throws on a keyword it
 * cannot translate, naming the path.
 */
export function toStructural(node: SchemaNode, path = '<root>'): SchemaNode {
  const out: SchemaNode = {};
  // description first: the YAML reads like `kubectl explain`.
  if (typeof node.description === 'string') out.description = node.description;
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key === '$schema') continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'propertyNames') {
      out[VALIDATIONS] = [...((out[VALIDATIONS] as CelRule[]) ?? []), ...keyRules(value as SchemaNode)];
      continue;
    }
    if (!ALLOWED.has(key)) throw new Error(`${path}: cannot express "${key}" in a structural schema`);
    if (key === 'properties') {
      const props: SchemaNode = {};
      for (const [name, child] of Object.entries(value as SchemaNode)) {
        const childPath = `${path === '<root>' ? '' : `${path}.`}${name}`;
        if (typeof (child as SchemaNode).description !== 'string') {
          throw new Error(`${childPath}: every field needs a description (kubectl explain shows it)`);
        }
        props[name] = toStructural(child as SchemaNode, childPath);
      }
      out.properties = props;
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toStructural(value as SchemaNode, `${path}[]`);
    } else if (key === VALIDATIONS) {
      out[VALIDATIONS] = [...((out[VALIDATIONS] as CelRule[]) ?? []), ...(value as CelRule[])];
    } else {
      out[key] = value;
    }
  }
  if (out.type === 'integer') {
    out.format = 'int64';
    // zod bounds every int by the safe-integer range; int64 already says as much.
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  }
  if (typeof out.type !== 'string') throw new Error(`${path}: a structural schema needs a type`);
  return out;
}

/** JSON Schema of one zod schema, as the CRD sees it: input shape, so defaulted fields are optional. */
function openApi(schema: z.ZodType): SchemaNode {
  const json = z.toJSONSchema(schema, { io: 'input', override: regexToCel }) as SchemaNode;
  return toStructural(json);
}

/** What differs between the CRDs of the two sender kinds; everything else is shared. */
export interface SenderCrdSource {
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortName: string;
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  /** Printer columns after Security (before Age). */
  columns: SchemaNode[];
  /** Printer columns at `-o wide`, before Message. */
  wideColumns: SchemaNode[];
  /** Source file named in the generated file's header. */
  source: string;
}

// Who depends on a sender, before it is changed (counted from injected pods).
const consumersColumn = { name: 'Consumers', type: 'integer', jsonPath: '.status.consumers' };

/** The EmailSender CRD's inputs. */
export const EMAIL_SENDER_CRD: SenderCrdSource = {
  kind: KIND,
  plural: PLURAL,
  scope: 'Namespaced',
  shortName: 'esender',
  description:
    'EmailSender declares how an application sends email: the SMTP server (URI in a Secret), the sender identity and extra headers. The controller probes the server and reports in status whether sending will work, and publishes the config that the sidecar sender reads.',
  spec: emailSenderSpecSchema,
  status: emailSenderStatusSchema,
  columns: [],
  wideColumns: [{ name: 'Consumers', type: 'integer', priority: 1, jsonPath: '.status.consumers' }],
  source: 'src/api/emailsender.ts',
};

/** The ClusterEmailSender CRD's inputs. */
export const CLUSTER_EMAIL_SENDER_CRD: SenderCrdSource = {
  kind: CLUSTER_KIND,
  plural: CLUSTER_PLURAL,
  scope: 'Cluster',
  shortName: 'cesender',
  description:
    'ClusterEmailSender is one EmailSender for a whole platform: its Secrets live in the cluster-resource namespace, pods in the namespaces its namespaceSelector allows opt in with the annotation mailroom.dev/cluster-sender: <name>, and the controller publishes the rendered config (Secret <name>-cluster-mailroom) only into the namespaces that have such pods.',
  spec: clusterEmailSenderSpecSchema,
  status: clusterEmailSenderStatusSchema,
  // Platform-wide, the count of consumers is the first thing to look at before a change.
  columns: [consumersColumn],
  wideColumns: [],
  source: 'src/api/clusteremailsender.ts',
};

/** Both sender CRDs, in the order they are generated. */
export const SENDER_CRDS = [EMAIL_SENDER_CRD, CLUSTER_EMAIL_SENDER_CRD] as const;

/** The `openAPIV3Schema` of one sender kind. */
export function senderOpenApiSchema(src: SenderCrdSource): SchemaNode {
  return {
    description: src.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description: 'APIVersion of this object: mailroom.dev/v1alpha1.',
        type: 'string',
      },
      kind: { description: `Kind of this object: ${src.kind}.`, type: 'string' },
      // The apiserver allows nothing but `type` here (not even a description).
      metadata: { type: 'object' },
      spec: openApi(src.spec),
      status: openApi(src.status),
    },
  };
}

/** The `openAPIV3Schema` of EmailSender v1alpha1. */
export const emailSenderOpenApiSchema = (): SchemaNode => senderOpenApiSchema(EMAIL_SENDER_CRD);

const readyColumn = (field: string) => `.status.conditions[?(@.type=="Ready")].${field}`;

/** The whole CustomResourceDefinition object of one sender kind. */
export function senderCrd(src: SenderCrdSource): SchemaNode {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${src.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'mailroom', 'app.kubernetes.io/part-of': 'mailroom' },
    },
    spec: {
      group: GROUP,
      scope: src.scope,
      names: {
        kind: src.kind,
        listKind: `${src.kind}List`,
        plural: src.plural,
        singular: src.kind.toLowerCase(),
        shortNames: [src.shortName],
        categories: ['mailroom'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: readyColumn('status') },
            { name: 'Reason', type: 'string', jsonPath: readyColumn('reason') },
            { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' },
            { name: 'Security', type: 'string', jsonPath: '.status.security' },
            ...src.columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            ...src.wideColumns,
            { name: 'Message', type: 'string', priority: 1, jsonPath: readyColumn('message') },
          ],
          schema: { openAPIV3Schema: senderOpenApiSchema(src) },
        },
      ],
    },
  };
}

/** The EmailSender CRD object. */
export const emailSenderCrd = (): SchemaNode => senderCrd(EMAIL_SENDER_CRD);

/** A CRD as the YAML file checked in at {@link crdPaths}. */
export function senderCrdYaml(src: SenderCrdSource): string {
  const header = `# Generated from ${src.source} by scripts/gen-crds.ts: do not edit; run \`npm run gen:crds\`.\n`;
  return header + stringify(senderCrd(src), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The EmailSender CRD as the YAML file checked in at {@link CRD_PATH}. */
export const emailSenderCrdYaml = (): string => senderCrdYaml(EMAIL_SENDER_CRD);
