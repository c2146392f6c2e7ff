/**
 * Controller at scale, on a real kube-apiserver with real SMTP servers (`npm run bench:controller`),
 * the controller run as shipped: compiled (`npm run build`, `dist/cli/main.js`), with
 * deploy/controller/deployment.yaml's node flags (its `command`) and NODE_OPTIONS, leader election
 * and the webhook on.
 *
 * 1. Peer: create 1,000 EmailSenders and make for each, with a raw client, the writes the
 *    controller makes (status patch, config Secret, one Event); same concurrency, same keep-alive
 *    client.
 * 2. Controller idle, no senders: RSS (target ≤ 80 MB).
 * 3. Controller: create 1,000 EmailSenders over 10 local SMTP endpoints (STARTTLS + AUTH, private
 *    CA); time until all are Ready (target ≤ 1.3× the peer). Probes made: target ≤ 10.
 * 4. Idle 60 s: status writes (controller metric) and status updates seen by a watch: target 0.
 * 5. RSS with 10,000 EmailSenders and 10,000 unrelated Secrets (target ≤ 150 MB).
 *
 * Env: BENCH_SENDERS (1000), BENCH_IDLE_S (60), BENCH_SCALE_SENDERS (10000), BENCH_NOISE_SECRETS (10000),
 * BENCH_NODE_OPTIONS (default: the Deployment's NODE_OPTIONS), BENCH_NODE_ARGS (default: the flags of its
 * `command`).
 * Prints figures, not pass/fail; the last line is a JSON summary.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { installCRDs, startControlPlane } from '../src/controlplane/index.ts';
import { createTestPki, startSmtpServer, type TestSmtpServer } from '../test/support/smtp-servers.ts';
import {
  buildArtifact,
  createSecret,
  createSenders,
  pool,
  ReadyWatcher,
  rawWrites,
  restFor,
  shippedNodeFlags,
  shippedNodeOptions,
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

const main = buildArtifact();
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
  for (const ns of ['baseline', 'bench', 'noise', 'mailroom-system']) {
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

  // 1. Peer: create + the controller's writes per sender, by a raw client.
  log(`peer: ${N} creates, then per sender a status patch, a config Secret and an Event`);
  const t0 = performance.now();
  await createSenders(rest, 'baseline', names('s', N), () => 'smtp');
  await pool(names('s', N), 16, (name) => rawWrites(rest, 'baseline', name));
  const baselineMs = performance.now() - t0;
  figures.baselineMs = Math.round(baselineMs);
  log(`peer: ${secs(baselineMs)}`);

  // 2. The controller (all namespaces; the peer's objects are removed first so they cost nothing).
  for (const plural of ['emailsenders', 'secrets', 'events'])
    await rest.request(
      'DELETE',
      plural === 'emailsenders'
        ? `/apis/mailroom.dev/v1alpha1/namespaces/baseline/${plural}`
        : plural === 'events'
          ? `/apis/events.k8s.io/v1/namespaces/baseline/${plural}`
          : `/api/v1/namespaces/baseline/${plural}`,
    );
  await createSecret(rest, 'bench', 'corp-ca', { 'ca.crt': pki.ca.cert });
  for (let i = 0; i < ENDPOINTS; i++) {
    await createSecret(rest, 'bench', `smtp-${i}`, {
      uri: `smtp://user${i}:pass-${i}-bench@localhost:${servers[i]!.port}/`,
    });
  }
  const controller = await startController(main, cp.kubeconfigPath, 'mailroom-system', [
    '--no-deliverability',
  ]);
  // Idle with no senders: caches synced, webhook serving and registered, first GCs done.
  await sleep(10_000);
  figures.rssAtStartMb = Math.round(controller.rssMb());
  figures.heapAtStartMb = Math.round((await controller.metric('nodejs_heap_size_used_bytes')) / 2 ** 20);
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
  // mailroom_probes_total counts from the start: the 10k phase's own probes are what it added.
  figures.probesAt10k = (await controller.metric('mailroom_probes_total')) - (figures.probes as number);
  const mb = async (name: string) => Math.round((await controller.metric(name)) / 2 ** 20);
  figures.heapUsedMb = await mb('nodejs_heap_size_used_bytes');
  figures.heapTotalMb = await mb('nodejs_heap_size_total_bytes');
  figures.externalMb = await mb('nodejs_external_memory_bytes');
  figures.apiErrors = await controller.metric('mailroom_controller_reconcile_errors_total');
  await watcher.stop();
  await controller.stop();
  rest.close();

  const rows: Array<[string, string, string]> = [
    [
      `peer: ${N} creates + raw status patch, config Secret, Event each`,
      secs(figures.baselineMs as number),
      '',
    ],
    [`controller: ${N} creates → all Ready`, secs(figures.controllerMs as number), `< 60 s`],
    ['ratio controller / peer', `${figures.ratio}×`, '≤ 1.3×'],
    [`probes for ${N} senders (${ENDPOINTS} endpoint+credentials)`, String(figures.probes), `≤ ${ENDPOINTS}`],
    ['status writes for those senders', String(figures.statusWrites), `${N}`],
    [
      `status writes while idle ${IDLE_S} s (metric / seen by a watch)`,
      `${figures.idleStatusWrites} / ${figures.idleStatusUpdatesSeen}`,
      '0',
    ],
    [
      'controller RSS idle, no senders (webhook on; V8 heap used)',
      `${figures.rssAtStartMb} MB (${figures.heapAtStartMb})`,
      '≤ 80 MB',
    ],
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
      '≤ 150 MB',
    ],
    [
      '  of which V8 heap used / total, external',
      `${figures.heapUsedMb} / ${figures.heapTotalMb}, ${figures.externalMb} MB`,
      '',
    ],
    [
      `probes while ${SCALE - N} more senders joined (${ENDPOINTS} endpoint+credentials)`,
      String(figures.probesAt10k),
      `≤ ${ENDPOINTS} per interval`,
    ],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(
    `\ncontroller-scale: local kube-apiserver, ${ENDPOINTS} smtp-server endpoints, compiled controller (leader election, webhook on), node ${shippedNodeFlags().join(' ')}, NODE_OPTIONS=${shippedNodeOptions()}\n`,
  );
  for (const [what, value, target] of rows)
    console.log(`${what.padEnd(w)}  ${value.padStart(10)}  ${target ? `target ${target}` : ''}`);
  console.log(`\n${JSON.stringify(figures)}`);
} finally {
  await Promise.all(servers.map((s) => s.close()));
  await cp.stop();
}
