/** docs/api.md keeps up with the schema and the reasons: every field and probe reason is documented. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  CLUSTER_EMAIL_SENDER_CRD,
  emailSenderOpenApiSchema,
  type SchemaNode,
  senderOpenApiSchema,
} from '../../src/api/crd.ts';
import { PROBE_REASONS } from '../../src/smtp/reasons.ts';

const doc = () => readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');

function* fieldPaths(node: SchemaNode, path: string): Generator<string> {
  for (const [name, child] of Object.entries((node.properties as Record<string, SchemaNode>) ?? {})) {
    const p = `${path}.${name}`;
    yield p;
    yield* fieldPaths(child, p);
    if (child.items) yield* fieldPaths(child.items as SchemaNode, `${p}[]`);
  }
}

test('docs/api.md documents every spec and status field of the CRD', async () => {
  const text = await doc();
  const root = emailSenderOpenApiSchema().properties as Record<string, SchemaNode>;
  for (const top of ['spec', 'status'] as const)
    for (const path of fieldPaths(root[top]!, top))
      assert.ok(text.includes(`\`${path}\``), `${path} undocumented`);
});

test('docs/api.md documents every field the ClusterEmailSender adds', async () => {
  const text = await doc();
  const es = new Set(
    ['spec', 'status'].flatMap((top) => [
      ...fieldPaths((emailSenderOpenApiSchema().properties as Record<string, SchemaNode>)[top]!, top),
    ]),
  );
  const root = senderOpenApiSchema(CLUSTER_EMAIL_SENDER_CRD).properties as Record<string, SchemaNode>;
  const added = ['spec', 'status']
    .flatMap((top) => [...fieldPaths(root[top]!, top)])
    .filter((p) => !es.has(p));
  assert.ok(added.includes('spec.namespaceSelector') && added.includes('status.namespaces'));
  const section = text.slice(text.indexOf('## `ClusterEmailSender`'));
  for (const path of added) assert.ok(section.includes(`\`${path}\``), `${path} undocumented`);
});

test('docs/api.md documents every probe reason', async () => {
  const text = await doc();
  for (const reason of Object.keys(PROBE_REASONS))
    assert.match(text, new RegExp(`^\\| \`${reason}\` +\\|`, 'm'), reason);
});
