import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  CLUSTER_EMAIL_SENDER_CRD,
  crdPaths,
  emailSenderCrd,
  emailSenderCrdYaml,
  type SchemaNode,
  SENDER_CRDS,
  senderCrd,
  senderCrdYaml,
  senderOpenApiSchema,
  toStructural,
} from './crd.ts';

const repoFile = (path: string) => new URL(`../../${path}`, import.meta.url);

/** Every schema node with its dotted path. */
function* walk(node: SchemaNode, path = ''): Generator<[string, SchemaNode]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties as Record<string, SchemaNode>) ?? {}))
    yield* walk(child, path ? `${path}.${name}` : name);
  if (node.items) yield* walk(node.items as SchemaNode, `${path}[]`);
  if (typeof node.additionalProperties === 'object')
    yield* walk(node.additionalProperties as SchemaNode, `${path}{}`);
}

const version = () => (emailSenderCrd().spec as { versions: SchemaNode[] }).versions[0]!;
const openApi = () => (version().schema as { openAPIV3Schema: SchemaNode }).openAPIV3Schema;
const at = (path: string) => {
  const found = [...walk(openApi())].find(([p]) => p === path);
  assert.ok(found, `no schema at ${path}`);
  return found[1];
};

describe('EmailSender CRD', () => {
  for (const src of SENDER_CRDS)
    for (const path of crdPaths(src.plural)) {
      test(`${path} is what the generator makes (run npm run gen:crds)`, async () => {
        assert.equal(await readFile(repoFile(path), 'utf8'), senderCrdYaml(src));
      });
    }

  test('the YAML parses back to the generated object', () => {
    assert.deepEqual(parse(emailSenderCrdYaml()), emailSenderCrd());
  });

  test('names, scope, status subresource and printer columns', () => {
    const spec = emailSenderCrd().spec as SchemaNode;
    assert.equal(spec.group, 'mailroom.dev');
    assert.equal(spec.scope, 'Namespaced');
    assert.deepEqual(spec.names, {
      kind: 'EmailSender',
      listKind: 'EmailSenderList',
      plural: 'emailsenders',
      singular: 'emailsender',
      shortNames: ['esender'],
      categories: ['mailroom'],
    });
    const v = version();
    assert.equal(v.name, 'v1alpha1');
    assert.deepEqual(v.subresources, { status: {} });
    const columns = v.additionalPrinterColumns as { name: string; jsonPath: string; priority?: number }[];
    assert.deepEqual(
      columns.map((c) => c.name),
      ['Ready', 'Reason', 'Endpoint', 'Security', 'Age', 'Consumers', 'Message'],
    );
    assert.equal(columns[0]!.jsonPath, '.status.conditions[?(@.type=="Ready")].status');
    const wideOnly = ['Consumers', 'Message'];
    for (const name of wideOnly) assert.equal(columns.find((c) => c.name === name)!.priority, 1);
    assert.ok(columns.filter((c) => !wideOnly.includes(c.name)).every((c) => !c.priority));
  });

  test('every field has a description, including nested ones (both kinds)', () => {
    for (const [path, node] of SENDER_CRDS.flatMap((src) => [...walk(senderOpenApiSchema(src))])) {
      // List items and map values are not fields; metadata may hold nothing but its type.
      if (path.endsWith('[]') || path.endsWith('{}') || path === 'metadata') continue;
      assert.equal(typeof node.description, 'string', `${path || '<root>'} lacks a description`);
    }
  });

  test('the schema is structural: typed nodes, nothing Kubernetes refuses (both kinds)', () => {
    for (const [path, node] of SENDER_CRDS.flatMap((src) => [...walk(senderOpenApiSchema(src))])) {
      assert.equal(typeof node.type, 'string', `${path} has no type`);
      for (const banned of ['$schema', 'propertyNames', 'anyOf', 'oneOf', 'allOf', '$ref', 'const'])
        assert.ok(!(banned in node), `${path} holds ${banned}`);
      assert.notEqual(node.additionalProperties, false, `${path}: additionalProperties: false`);
      assert.ok(!('x-kubernetes-preserve-unknown-fields' in node), `${path} preserves unknown fields`);
      if (node.type === 'integer') assert.equal(node.format, 'int64', `${path} integer without int64`);
    }
  });

  test('every CEL rule sits on a bounded string, map or fixed object (both kinds)', () => {
    for (const [path, node] of SENDER_CRDS.flatMap((src) => [...walk(senderOpenApiSchema(src))])) {
      if (!node['x-kubernetes-validations']) continue;
      if (node.type === 'string') assert.equal(typeof node.maxLength, 'number', `${path} needs maxLength`);
      else if (node.type === 'object' && node.additionalProperties === undefined)
        for (const [name, field] of Object.entries(node.properties as Record<string, SchemaNode>))
          if (field.type === 'array')
            assert.equal(typeof field.maxItems, 'number', `${path}.${name} needs maxItems`);
          else assert.notEqual(field.type, 'object', `${path}.${name}: unbounded`);
      else if (node.type === 'object')
        assert.equal(typeof node.maxProperties, 'number', `${path} needs maxProperties`);
      else assert.fail(`${path}: rule on a ${String(node.type)}`);
    }
  });

  test('defaults are kept, so the apiserver fills them', () => {
    assert.equal(at('spec.probe.interval').default, '10m');
    assert.equal(at('spec.probe.timeout').default, '10s');
    assert.deepEqual(at('spec.probe').default, {});
    assert.equal(at('spec.delivery.maxAttempts').default, 6);
    assert.equal(at('spec.smtp.uriSecretRef.key').default, 'uri');
    assert.equal(at('spec.suspend').default, false);
    assert.deepEqual(at('spec').required, ['smtp', 'from']);
    assert.deepEqual(at('spec.smtp').required, ['uriSecretRef']);
  });

  test('headers: CR/LF, reserved names and bad names are CEL rules with clear messages', () => {
    const headers = at('spec.headers');
    const rules = headers['x-kubernetes-validations'] as { rule: string; message: string }[];
    assert.ok(rules.some((r) => r.rule.includes('"dkim-signature"') && r.rule.includes('lowerAscii()')));
    assert.ok(rules.some((r) => /header field name/.test(r.message)));
    const value = headers.additionalProperties as SchemaNode;
    assert.equal(value.type, 'string');
    assert.match(JSON.stringify(value['x-kubernetes-validations']), /CR or LF/);
    assert.equal(value.pattern, undefined, 'the pattern became a rule with a message');
  });

  test('durations carry a range rule; conditions are a map keyed by type', () => {
    const rules = JSON.stringify(at('spec.probe.interval')['x-kubernetes-validations']);
    assert.match(rules, /duration\(\\"10s\\"\).*duration\(\\"24h\\"\)/);
    const conditions = at('status.conditions');
    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.ok((conditions.items as SchemaNode).required);
  });

  test('toStructural refuses what it cannot translate, naming the path', () => {
    assert.throws(
      () => toStructural({ type: 'object', properties: { a: { description: 'x', anyOf: [] } } }),
      /^Error: a: cannot express "anyOf"/,
    );
    assert.throws(
      () => toStructural({ type: 'object', properties: { a: { type: 'string' } } }),
      /a: every field needs a description/,
    );
  });
});

describe('ClusterEmailSender CRD', () => {
  const crd = () => senderCrd(CLUSTER_EMAIL_SENDER_CRD);
  const v = () => (crd().spec as { versions: SchemaNode[] }).versions[0]!;
  const schema = () => (v().schema as { openAPIV3Schema: SchemaNode }).openAPIV3Schema;
  const node = (path: string) => [...walk(schema())].find(([p]) => p === path)?.[1];

  test('cluster-scoped, short name cesender, category mailroom', () => {
    const spec = crd().spec as SchemaNode;
    assert.equal(spec.scope, 'Cluster');
    assert.deepEqual(spec.names, {
      kind: 'ClusterEmailSender',
      listKind: 'ClusterEmailSenderList',
      plural: 'clusteremailsenders',
      singular: 'clusteremailsender',
      shortNames: ['cesender'],
      categories: ['mailroom'],
    });
    assert.deepEqual(v().subresources, { status: {} });
  });

  test("EmailSender's columns, with Consumers shown by default", () => {
    const columns = v().additionalPrinterColumns as { name: string; priority?: number }[];
    assert.deepEqual(
      columns.map((c) => c.name),
      ['Ready', 'Reason', 'Endpoint', 'Security', 'Consumers', 'Age', 'Message'],
    );
    assert.equal(columns.find((c) => c.name === 'Consumers')!.priority, undefined);
  });

  test("the EmailSender's spec plus namespaceSelector; Secrets described in the cluster-resource namespace", () => {
    const es = emailSenderCrd() as { spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] } };
    const esSpec = es.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, SchemaNode>;
    const fields = Object.keys(node('spec')!.properties as object);
    assert.deepEqual(fields, [...Object.keys(esSpec.spec!.properties as object), 'namespaceSelector']);
    assert.match(String(node('spec.smtp.uriSecretRef.name')!.description), /cluster-resource namespace/);
    assert.deepEqual(node('spec.namespaceSelector')!.default, {});
    assert.ok(node('spec.namespaceSelector.matchExpressions[].operator')!.enum);
    assert.ok(node('status.namespaces'), 'status.namespaces lists where the config is published');
  });
});
