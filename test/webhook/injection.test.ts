/**
 * Sidecar injection against a real API server, which calls the webhook over TLS on 127.0.0.1:
 * the injected spec, idempotency, untouched pods, missing senders (warning, Event, strict refusal)
 * and `status.consumers`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { DEFAULT_MAX_QUEUE_BYTES } from '../../src/sidecar/limits.ts';
import type { Webhook } from '../../src/webhook/index.ts';
import { APP_NS, eventually, podManifest, SENDER, startWebhookEnv, type WebhookEnv } from './env.ts';

const annotated = { 'mailroom.dev/sender': SENDER };

describe('sidecar injection', () => {
  let env: WebhookEnv;
  let webhook: Webhook;

  const create = (manifest: string, ...flags: string[]) =>
    env.kubectlRaw(['create', '-n', APP_NS, '-f', '-', '-o', 'json', ...flags], manifest);
  const getPod = async (name: string): Promise<V1Pod> =>
    JSON.parse(await env.kubectl('get', 'pod', '-n', APP_NS, name, '-o', 'json'));

  before(async () => {
    env = await startWebhookEnv();
    webhook = await env.startWebhook({ checkIntervalMs: 500 });
  });
  after(() => env?.stop());

  test('an annotated pod gets the sender as a native sidecar, its volumes and the env', async () => {
    const r = await create(podManifest('web', annotated));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no warning for an existing sender');
    const pod: V1Pod = JSON.parse(r.stdout);
    const init = pod.spec!.initContainers!;
    assert.deepEqual(
      init.map((c) => [c.name, c.restartPolicy]),
      [['mailroom-sender', 'Always']],
    );
    const sidecar = init[0]!;
    // Node from the image's startup snapshot (src/cli/snapshot.ts), not the image's entrypoint.
    assert.deepEqual(sidecar.command, ['node', '--snapshot-blob', '/app/dist/sidecar.blob']);
    assert.deepEqual(sidecar.args, [
      'sidecar',
      '--config',
      '/etc/mailroom/config.json',
      '--smtp-listen',
      '127.0.0.1:1025',
      '--http-listen',
      '127.0.0.1:8025',
      '--data-dir',
      '/var/lib/mailroom',
      '--metrics-listen',
      ':9025',
      '--max-queue-bytes',
      String(DEFAULT_MAX_QUEUE_BYTES),
    ]);
    assert.deepEqual(sidecar.ports, [{ name: 'sender-metrics', containerPort: 9025, protocol: 'TCP' }]);
    assert.deepEqual(sidecar.securityContext, {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsGroup: 65532,
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(sidecar.resources, {
      requests: { cpu: '10m', memory: '96Mi' },
      limits: { memory: '256Mi' },
    });
    // As the API server stored them (it fills in the scheme): kubelet probes on the metrics port.
    assert.deepEqual(sidecar.readinessProbe!.httpGet, {
      path: '/readyz',
      port: 'sender-metrics',
      scheme: 'HTTP',
    });
    assert.deepEqual(sidecar.livenessProbe!.httpGet, {
      path: '/healthz',
      port: 'sender-metrics',
      scheme: 'HTTP',
    });
    const config = sidecar.volumeMounts!.find((m) => m.name === 'mailroom-config')!;
    assert.deepEqual(config, { name: 'mailroom-config', mountPath: '/etc/mailroom', readOnly: true });

    const volumes = Object.fromEntries(pod.spec!.volumes!.map((v) => [v.name, v]));
    assert.equal(volumes['mailroom-config']!.secret!.secretName, `${SENDER}-mailroom`);
    assert.deepEqual(volumes['mailroom-data']!.emptyDir, { sizeLimit: '256Mi' });
    for (const c of pod.spec!.containers) {
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
      assert.equal(env.MAILROOM_SMTP_URL, 'smtp://127.0.0.1:1025/?disable_starttls=true', c.name);
      assert.equal(env.MAILROOM_API_URL, 'http://127.0.0.1:8025', c.name);
    }
    assert.equal(pod.spec!.containers[0]!.env![0]!.name, 'KEEP', "the app's own env stays first");
    assert.equal(pod.metadata!.labels!['mailroom.dev/injected'], 'true');
  });

  test('annotations override resources and put the queue on a PVC', async () => {
    const r = await create(
      podManifest('web-pvc', {
        ...annotated,
        'mailroom.dev/data-claim': 'mail-queue',
        'mailroom.dev/cpu-request': '25m',
        'mailroom.dev/memory-limit': '512Mi',
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    const pod: V1Pod = JSON.parse(r.stdout);
    const sidecar = pod.spec!.initContainers![0]!;
    assert.deepEqual(sidecar.resources, {
      requests: { cpu: '25m', memory: '96Mi' },
      limits: { memory: '512Mi' },
    });
    const data = pod.spec!.volumes!.find((v) => v.name === 'mailroom-data')!;
    assert.deepEqual(data.persistentVolumeClaim, { claimName: 'mail-queue' });
  });

  test('creating it again from the injected manifest, or updating it, duplicates nothing', async () => {
    const first = await getPod('web');
    const copy = structuredClone(first);
    copy.metadata = {
      name: 'web-again',
      annotations: first.metadata!.annotations!,
      labels: first.metadata!.labels!,
    };
    delete copy.status;
    const r = await create(JSON.stringify(copy));
    assert.equal(r.code, 0, r.stderr);
    const again: V1Pod = JSON.parse(r.stdout);
    assert.deepEqual(again.spec!.initContainers, first.spec!.initContainers);
    assert.deepEqual(again.spec!.volumes, first.spec!.volumes);
    assert.deepEqual(again.spec!.containers, first.spec!.containers);

    await env.kubectl('label', 'pod', '-n', APP_NS, 'web', 'touched=yes');
    await env.kubectl('annotate', 'pod', '-n', APP_NS, 'web', 'mailroom.dev/sender=other', '--overwrite');
    const updated = await getPod('web');
    assert.deepEqual(updated.spec, first.spec);
  });

  test('a pod without the annotation is not touched', async () => {
    const dry = await create(podManifest('plain-dry'), '--dry-run=client');
    const r = await create(podManifest('plain'));
    assert.equal(r.code, 0, r.stderr);
    const pod: V1Pod = JSON.parse(r.stdout);
    assert.equal(pod.spec!.initContainers, undefined);
    assert.equal(pod.metadata!.labels, undefined);
    assert.deepEqual(
      pod.spec!.containers.map((c) => c.env),
      (JSON.parse(dry.stdout) as V1Pod).spec!.containers.map((c) => c.env),
    );
    assert.equal(pod.spec!.volumes, undefined);
  });

  test('a missing sender: admitted with a warning kubectl prints, and an Event', async () => {
    const r = await create(podManifest('orphan', { 'mailroom.dev/sender': 'nope' }));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^Warning: mailroom\.dev\/sender: EmailSender "nope" does not exist in namespace "apps"/m,
    );
    const pod: V1Pod = JSON.parse(r.stdout);
    assert.equal(pod.spec!.initContainers![0]!.name, 'mailroom-sender', 'injected, waiting for the sender');
    const note = await eventually(async () => {
      const list = JSON.parse(await env.kubectl('get', 'events.events.k8s.io', '-n', APP_NS, '-o', 'json'));
      const ev = (list.items as { reason: string; note: string; type: string }[]).find(
        (e) => e.reason === 'SenderNotFound',
      );
      return ev ? `${ev.type}: ${ev.note}` : undefined;
    });
    assert.match(note, /^Warning: pod orphan names EmailSender "nope"/);
  });

  test('status.consumers counts the pods that use the sender', async () => {
    const consumers = async () => {
      const s = JSON.parse(await env.kubectl('get', 'emailsender', '-n', APP_NS, SENDER, '-o', 'json'));
      return s.status?.consumers as number | undefined;
    };
    // web, web-pvc, web-again (web was re-annotated to "other" but keeps its label and counts there).
    await eventually(async () => ((await consumers()) === 2 ? true : undefined));
    await env.kubectl(
      'delete',
      'pod',
      '-n',
      APP_NS,
      'web-pvc',
      '--wait=false',
      '--grace-period=0',
      '--force',
    );
    await eventually(async () => ((await consumers()) === 1 ? true : undefined));
  });

  test('strict: a pod naming a missing sender is refused with a clear message', async () => {
    await webhook.stop();
    webhook = await env.startWebhook({ strict: true });
    const r = await create(podManifest('refused', { 'mailroom.dev/sender': 'nope' }));
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /admission webhook "sidecar\.mailroom\.dev" denied the request: mailroom\.dev\/sender: EmailSender "nope" does not exist in namespace "apps"; create it first/,
    );
    const ok = await create(podManifest('accepted', annotated));
    assert.equal(ok.code, 0, ok.stderr);
  });
});
