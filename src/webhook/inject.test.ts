import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { DEFAULT_MAX_QUEUE_BYTES, dataVolumeSizeLimit } from '../sidecar/limits.ts';
import { APP_ENV, INJECTED_LABEL, SIDECAR_NAME, SIDECAR_NODE_OPTIONS, VOLUMES } from './constants.ts';
import { type PatchOp, planInjection } from './inject.ts';
import { parseQuantity } from './quantity.ts';

/** Applies `add` operations as the API server does (RFC 6902), on a copy. */
function apply(pod: V1Pod, patch: PatchOp[]): V1Pod {
  const out = structuredClone(pod) as Record<string, unknown>;
  for (const op of patch) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = parts.pop()!;
    let at = out as Record<string, unknown>;
    for (const p of parts) at = at[p] as Record<string, unknown>;
    if (Array.isArray(at)) at.splice(Number(last), 0, structuredClone(op.value));
    else at[last] = structuredClone(op.value);
  }
  return out as V1Pod;
}

const opts = { sender: 'identity', image: 'mailroom:test' };
const pod = (annotations: Record<string, string> = {}, spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name: 'p', annotations: { 'mailroom.dev/sender': 'identity', ...annotations } },
  spec: {
    containers: [{ name: 'app', image: 'app', env: [{ name: 'MAILROOM_API_URL', value: 'mine' }] }],
    ...spec,
  },
});

describe('planInjection', () => {
  test('adds a native sidecar first, its volumes, the env and the label', () => {
    const init = { name: 'migrate', image: 'm' };
    const out = apply(
      pod({}, { initContainers: [init] }),
      planInjection(pod({}, { initContainers: [init] }), opts).patch,
    );
    const [sidecar, second] = out.spec!.initContainers!;
    assert.equal(sidecar!.name, SIDECAR_NAME);
    assert.equal(sidecar!.restartPolicy, 'Always');
    assert.equal(second!.name, 'migrate');
    assert.deepEqual(sidecar!.securityContext?.capabilities, { drop: ['ALL'] });
    assert.equal(sidecar!.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(sidecar!.securityContext?.runAsNonRoot, true);
    // The heap bounds and the malloc settings the memory figures were measured with.
    assert.deepEqual(Object.fromEntries(sidecar!.env!.map((e) => [e.name, e.value])), {
      NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
      MALLOC_ARENA_MAX: '1',
      MALLOC_MMAP_THRESHOLD_: '131072',
      MALLOC_TRIM_THRESHOLD_: '131072',
    });
    assert.deepEqual(sidecar!.resources, {
      requests: { cpu: '10m', memory: '96Mi' },
      limits: { memory: '256Mi' },
    });
    // Probed over HTTP on the port --metrics-listen serves on the pod IP (the doors are loopback only).
    assert.deepEqual(sidecar!.readinessProbe!.httpGet, { path: '/readyz', port: 'sender-metrics' });
    assert.deepEqual(sidecar!.livenessProbe!.httpGet, { path: '/healthz', port: 'sender-metrics' });
    const port = sidecar!.ports!.find((p) => p.name === 'sender-metrics')!.containerPort;
    assert.equal(sidecar!.args![sidecar!.args!.indexOf('--metrics-listen') + 1], `:${port}`);
    // The emptyDir holds the queue quota the sidecar is given, with room for its WAL and spare file.
    const quota = Number(sidecar!.args![sidecar!.args!.indexOf('--max-queue-bytes') + 1]);
    assert.equal(quota, DEFAULT_MAX_QUEUE_BYTES);
    const mounts = Object.fromEntries(sidecar!.volumeMounts!.map((m) => [m.name, m]));
    assert.equal(mounts[VOLUMES.config]!.readOnly, true);
    const vols = Object.fromEntries(out.spec!.volumes!.map((v) => [v.name, v]));
    assert.equal(vols[VOLUMES.config]!.secret!.secretName, 'identity-mailroom');
    assert.equal(vols[VOLUMES.data]!.emptyDir!.sizeLimit, dataVolumeSizeLimit(quota));
    assert.equal(dataVolumeSizeLimit(quota), '256Mi');
    // The app's own value wins; the missing one is added.
    assert.deepEqual(out.spec!.containers[0]!.env, [
      { name: 'MAILROOM_API_URL', value: 'mine' },
      { name: 'MAILROOM_SMTP_URL', value: APP_ENV.MAILROOM_SMTP_URL },
    ]);
    assert.equal(out.metadata!.labels![INJECTED_LABEL], 'true');
  });

  test('is idempotent: an injected pod gets an empty patch', () => {
    const once = apply(pod(), planInjection(pod(), opts).patch);
    assert.deepEqual(planInjection(once, opts).patch, []);
  });

  test('re-invoked after another webhook added a container, only that container gets the env', () => {
    const once = apply(pod(), planInjection(pod(), opts).patch);
    once.spec!.containers.push({ name: 'late', image: 'l' });
    const { patch } = planInjection(once, opts);
    assert.deepEqual(
      patch.map((p) => p.path),
      ['/spec/containers/1/env'],
    );
  });

  test('annotations override resources and choose a PVC for the queue', () => {
    const annotated = pod({
      'mailroom.dev/cpu-request': '50m',
      'mailroom.dev/memory-request': '256Mi',
      'mailroom.dev/cpu-limit': 'lots',
      'mailroom.dev/data-claim': 'mail-queue',
    });
    const { patch, warnings } = planInjection(annotated, opts);
    const out = apply(annotated, patch);
    const sidecar = out.spec!.initContainers![0]!;
    // The default memory limit follows a larger request instead of making the pod invalid.
    assert.deepEqual(sidecar.resources, {
      requests: { cpu: '50m', memory: '256Mi' },
      limits: { memory: '256Mi' },
    });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /mailroom\.dev\/cpu-limit: "lots" is not a Kubernetes quantity/);
    const data = out.spec!.volumes!.find((v) => v.name === VOLUMES.data)!;
    assert.deepEqual(data.persistentVolumeClaim, { claimName: 'mail-queue' });
  });

  test('escapes label keys in JSON Pointers when labels exist', () => {
    const labelled = pod();
    labelled.metadata!.labels = { app: 'x' };
    const { patch } = planInjection(labelled, opts);
    assert.ok(patch.some((p) => p.path === '/metadata/labels/mailroom.dev~1injected'));
  });
});

test('parseQuantity reads the forms the API accepts', () => {
  assert.equal(parseQuantity('100m'), 0.1);
  assert.equal(parseQuantity('64Mi'), 64 * 2 ** 20);
  assert.equal(parseQuantity('1.5G'), 1.5e9);
  assert.equal(parseQuantity('1e3'), 1000);
  assert.equal(parseQuantity('1 Mi'), undefined);
  assert.equal(parseQuantity('-1'), undefined);
});
