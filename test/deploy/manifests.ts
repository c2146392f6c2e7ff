/**
 * Rendering manifests the way a user would — `kubectl kustomize` and `helm template` — into plain
 * objects keyed by what identifies them in a cluster, for tests that compare two renderings.
 */
import { parseAllDocuments } from 'yaml';
import { runCommand } from '../support/run-command.ts';

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are read field by field
export type Manifest = any;

function parse(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter((o) => o != null);
}

/** `kubectl kustomize DIR`. */
export async function kustomize(dir: string, flags: readonly string[] = []): Promise<Manifest[]> {
  const r = await runCommand('kubectl', ['kustomize', ...flags, dir]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${dir} exited ${r.code}: ${r.stderr.trim()}`);
  return parse(r.stdout);
}

/** `helm template` with the CRDs, in namespace mailroom-system unless told otherwise. */
export async function helmTemplate(
  helm: string,
  chart: string,
  args: readonly string[] = [],
): Promise<Manifest[]> {
  const r = await runCommand(helm, [
    'template',
    'mailroom',
    chart,
    '--include-crds',
    '--namespace',
    'mailroom-system',
    ...args,
  ]);
  if (r.code !== 0) throw new Error(`helm template exited ${r.code}: ${r.stderr.trim()}`);
  return parse(r.stdout);
}

/** `group/Kind namespace/name`: what makes an object one object in a cluster. */
export function identity(o: Manifest): string {
  const group = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/')[0] : 'core';
  return `${group}/${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Objects by identity; a duplicate is an error, since a map would hide it. */
export function byIdentity(objects: Manifest[]): Map<string, Manifest> {
  const map = new Map<string, Manifest>();
  for (const o of objects) {
    const id = identity(o);
    if (map.has(id)) throw new Error(`${id} is rendered twice`);
    map.set(id, o);
  }
  return map;
}

/** A copy without the object's own labels (the tools add different ones); selectors stay. */
export function withoutLabels(o: Manifest): Manifest {
  const copy = structuredClone(o);
  delete copy.metadata.labels;
  return copy;
}

/** One object by kind and name, or an error naming what is missing. */
export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind} ${name} not rendered`);
  return found;
}
