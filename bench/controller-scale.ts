/**
 * Controller at scale, on a real kube-apiserver with real SMTP servers (`npm run bench:controller`).
 *
 * 1. Baseline: create 1,000 EmailSenders and write one Ready status each with a raw client (the
 *    least API work that can make them Ready), same concurrency, same keep-alive client.
 * 2. Controller: create 1,000 EmailSenders over 10 local SMTP endpoints (STARTTLS + AUTH, private
 *    CA) with `mailroom controller` running; time until all are Ready. Probes made: target ≤ 10.
 * 3. Idle 60 s: status writes (controller metric) and status updates seen by a watch: target 0.
 * 4. RSS of the controller process with 10,000 EmailSenders and 10,000 unrelated Secrets: < 200 MB.
 *
 * Env: BENCH_SENDERS (1000), BENCH_IDLE_S (60), BENCH_SCALE_SENDERS (10000), BENCH_NOISE_SECRETS (10000),
 * BENCH_NODE_FLAGS (V8 flags of the controller; default the Deployment's NODE_OPTIONS).
 * Prints figures, not pass/fail.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { installCRDs, startControlPlane } from '../src/controlplane/index.ts';
import { createTestPki, startSmtpServer, type TestSmtpServer } from '../test/support/smtp-servers.ts';
import {
  createSecret,
  createSenders,
  nodeFlags,
  pool,
  ReadyWatcher,
  restFor,
  startController,
} from './controller-lib.ts';

const N = Number(process.env.BENCH_SENDERS ?? 1000);
const ENDPOINTS = 10;
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const SCALE = Number(process.env.BENCH_SCALE_SENDERS ?? 10_000);
const NOISE = Number(process.env.BENCH_NOISE_SECRETS ?? 10_000);
const root = new URL('../', import.meta.url).pathname;
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const cp = await startControlPlane();
const servers: TestSmtpServer[] = [];
const figures: Record<string, number | string> = {};
try {
  await installCRDs(cp.kubeconfigPath, `${root}crds`);
  const rest = await restFor(cp.kubeconfigPath);
  const pki = await createTestPki();
  for (let i = 0; i < ENDPOINTS; i++) {
    servers.push(
      await startSmtpServer({ tls: pki.valid, auth: { user: `user${i}`, pass: `pass-${i}-bench` } }),
    );
  }
  for (const ns of ['baseline', 'bench', 'noise']) {
    await rest.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    });
  }
  const names = (prefix: string, n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => `${prefix}-${from + i}`);

  // Warm-up: the first custom resources of a fresh apiserver pay for schema and CEL compilation.
  await createSenders(rest, 'baseline', names('warm', 50), () => 'smtp');
  await pool(names('warm', 50), 16, (name) =>
    rest.request('DELETE', `/apis/mailroom.dev/v1alpha1/namespaces/baseline/emailsenders/${name}`),
  );

  // 1. Baseline: create + one status patch per resource.
  log(`baseline: ${N} creates + ${N} status patches`);
  const t0 = performance.now();
  await createSenders(rest, 'baseline', names('s', N), () => 'smtp');
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await pool(names('s', N), 16, (name) =>
    rest.request('PATCH', `/apis/mailroom.dev/v1alpha1/namespaces/baseline/emailsenders/${name}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          observedGeneration: 1,
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'Verified',
              message: 'ok',
              lastTransitionTime: now,
              observedGeneration: 1,
            },
          ],
        },
      },
    }),
  );
  const baselineMs = performance.now() - t0;
  figures.baselineMs = Math.round(baselineMs);
  log(`baseline: ${secs(baselineMs)}`);

  // 2. The controller (all namespaces; the baseline senders are removed first so they cost nothing).
  await pool(names('s', N), 16, (name) =>
    rest.request('DELETE', `/apis/mailroom.dev/v1alpha1/namespaces/baseline/emailsenders/${name}`),
  );
  await createSecret(rest, 'bench', 'corp-ca', { 'ca.crt': pki.ca.cert });
  for (let i = 0; i < ENDPOINTS; i++) {
    await createSecret(rest, 'bench', `smtp-${i}`, {
      uri: `smtp://user${i}:pass-${i}-bench@localhost:${servers[i]!.port}/`,
    });
  }
  const controller = await startController(cp.kubeconfigPath, ['--no-deliverability']);
  await sleep(1000);
  figures.rssAtStartMb = Math.round(controller.rssMb());
  const watcher = new ReadyWatcher(rest, 'bench');
  await watcher.start();
  log(`controller: ${N} creates over ${ENDPOINTS} endpoints, until all Ready`);
  const t1 = performance.now();
  await createSenders(rest, 'bench', names('s', N), (i) => `smtp-${i % ENDPOINTS}`);
  const createdMs = performance.now() - t1;
  await watcher.until(N);
  const controllerMs = performance.now() - t1;
  figures.controllerMs = Math.round(controllerMs);
  figures.createsMs = Math.round(createdMs);
  figures.ratio = Number((controllerMs / baselineMs).toFixed(2));
  figures.probes = await controller.metric('mailroom_probes_total');
  figures.probesShared = await controller.metric('mailroom_probes_shared_total');
  figures.statusWrites = await controller.metric('mailroom_controller_status_writes_total');
  log(
    `controller: all ${N} Ready in ${secs(controllerMs)} (creates took ${secs(createdMs)}), ${figures.probes} probes`,
  );

  // 3. Idle.
  await sleep(2000); // let events and the last watch updates drain
  const writesBefore = await controller.metric('mailroom_controller_status_writes_total');
  const modifiedBefore = watcher.modified;
  const reconcilesBefore = await controller.metric('mailroom_controller_reconciles_total');
  log(`idle: ${IDLE_S} s`);
  await sleep(IDLE_S * 1000);
  figures.idleStatusWrites =
    (await controller.metric('mailroom_controller_status_writes_total')) - writesBefore;
  figures.idleStatusUpdatesSeen = watcher.modified - modifiedBefore;
  figures.idleReconciles =
    (await controller.metric('mailroom_controller_reconciles_total')) - reconcilesBefore;
  figures.rssAt1kMb = Math.round(controller.rssMb());

  // 4. Scale: 10,000 senders and 10,000 unrelated Secrets.
  log(`scale: +${SCALE - N} senders, +${NOISE} unrelated Secrets`);
  const t2 = performance.now();
  const noise = names('noise', NOISE);
  const filler = 'x'.repeat(512);
  await Promise.all([
    createSenders(rest, 'bench', names('s', SCALE - N, N), (i) => `smtp-${i % ENDPOINTS}`),
    pool(noise, 8, (name) => createSecret(rest, 'noise', name, { token: `${name}-${filler}` })),
  ]);
  await watcher.until(SCALE);
  figures.scaleReadyMs = Math.round(performance.now() - t2);
  await sleep(3000);
  figures.rssAt10kBurstMb = Math.round(controller.rssMb());
  // Settled: the event backlog of the burst drained, caches are what is left.
  await sleep(30_000);
  figures.rssAt10kMb = Math.round(controller.rssMb());
  figures.probesAt10k = await controller.metric('mailroom_probes_total');
  const mb = async (name: string) => Math.round((await controller.metric(name)) / 2 ** 20);
  figures.heapUsedMb = await mb('nodejs_heap_size_used_bytes');
  figures.heapTotalMb = await mb('nodejs_heap_size_total_bytes');
  figures.externalMb = await mb('nodejs_external_memory_bytes');
  figures.apiErrors = await controller.metric('mailroom_controller_reconcile_errors_total');
  await watcher.stop();
  await controller.stop();
  rest.close();

  const rows: Array<[string, string, string]> = [
    [`baseline: ${N} creates + ${N} raw status patches`, secs(figures.baselineMs as number), ''],
    [`controller: ${N} creates → all Ready`, secs(figures.controllerMs as number), `< 60 s`],
    ['ratio controller / baseline', `${figures.ratio}×`, '< 2×'],
    [`probes for ${N} senders (${ENDPOINTS} endpoint+credentials)`, String(figures.probes), `≤ ${ENDPOINTS}`],
    ['status writes for those senders', String(figures.statusWrites), `${N}`],
    [
      `status writes while idle ${IDLE_S} s (metric / seen by a watch)`,
      `${figures.idleStatusWrites} / ${figures.idleStatusUpdatesSeen}`,
      '0',
    ],
    ['controller RSS at start (no objects)', `${figures.rssAtStartMb} MB`, ''],
    [`controller RSS with ${N} senders`, `${figures.rssAt1kMb} MB`, ''],
    [
      `${SCALE} senders + ${NOISE} unrelated Secrets: all Ready after`,
      secs(figures.scaleReadyMs as number),
      '',
    ],
    [
      `controller RSS with ${SCALE} senders + ${NOISE} Secrets, 3 s after the burst`,
      `${figures.rssAt10kBurstMb} MB`,
      '',
    ],
    [
      `controller RSS with ${SCALE} senders + ${NOISE} Secrets, settled (30 s)`,
      `${figures.rssAt10kMb} MB`,
      '< 200 MB',
    ],
    [
      '  of which V8 heap used / total, external',
      `${figures.heapUsedMb} / ${figures.heapTotalMb}, ${figures.externalMb} MB`,
      '',
    ],
    [`probes for ${SCALE} senders`, String(figures.probesAt10k), `≤ ${ENDPOINTS} per interval`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(
    `\ncontroller-scale: local kube-apiserver, ${ENDPOINTS} smtp-server endpoints, controller node flags: ${nodeFlags.join(' ') || 'none'}\n`,
  );
  for (const [what, value, target] of rows)
    console.log(`${what.padEnd(w)}  ${value.padStart(10)}  ${target ? `target ${target}` : ''}`);
  console.log(`\n${JSON.stringify(figures)}`);
} finally {
  await Promise.all(servers.map((s) => s.close()));
  await cp.stop();
}
