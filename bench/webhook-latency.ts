/**
 * Admission latency the sidecar-injection webhook adds to a pod create, on a real control plane: the
 * API server calls the webhook over TLS on 127.0.0.1 for annotated pods, and not at all for the
 * others (matchConditions), so the difference between the two in the same run is the webhook's cost.
 * Creates alternate (annotated, plain, annotated, …) so drift hits both alike; each is a POST from one
 * keep-alive HTTPS connection, timed from request to response. Pods never run (no nodes).
 *
 * The webhook is served as shipped: by the compiled controller (`npm run build`, `dist/cli/main.js`)
 * with deploy/controller/deployment.yaml's node flags, NODE_OPTIONS and leader election, which registers it
 * (by URL on a loopback port, as outside a cluster it must be) with its matchConditions.
 *
 * Run: npm run bench:webhook [-- CREATES]   (default 500 of each). BENCH_NODE_OPTIONS overrides the
 * Deployment's NODE_OPTIONS.
 */
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { installCRDs, startControlPlane } from '../src/controlplane/index.ts';
import { buildArtifact, shippedNodeFlags, shippedNodeOptions, startController } from './controller-lib.ts';

const creates = Number(process.argv[2] ?? 500);
const warmup = 50;
const root = fileURLToPath(new URL('../', import.meta.url));
const main = buildArtifact();
const cp = await startControlPlane();
const kubectl = (args: string[], input?: string) =>
  execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { input, encoding: 'utf8' });

try {
  await installCRDs(cp.kubeconfigPath, `${root}crds`);
  kubectl(['create', 'namespace', 'bench']);
  kubectl(['create', 'namespace', 'mailroom-system']);
  kubectl(
    ['create', '-f', '-'],
    JSON.stringify({
      apiVersion: 'mailroom.dev/v1alpha1',
      kind: 'EmailSender',
      metadata: { name: 'identity', namespace: 'bench' },
      spec: { smtp: { uriSecretRef: { name: 'smtp' } }, from: { address: 'no-reply@example.com' } },
    }),
  );
  const controller = await startController(main, cp.kubeconfigPath, 'mailroom-system', [
    '--no-deliverability',
  ]);
  // Serving is not yet registered: wait until the API server sends annotated pods to it.
  for (let i = 0; ; i++) {
    const out = kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name']);
    if (out.includes('mailroom-sidecar-injector')) break;
    if (i > 200) throw new Error('the controller did not register its webhook');
    await sleep(100);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: cp.caPem });
  const url = new URL(`${cp.server}/api/v1/namespaces/bench/pods`);
  let n = 0;
  const create = (annotated: boolean): Promise<number> => {
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `p${++n}`,
        ...(annotated ? { annotations: { 'mailroom.dev/sender': 'identity' } } : {}),
      },
      spec: { containers: [{ name: 'app', image: 'ghcr.io/example/app:1.0.0' }] },
    });
    const t = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${cp.token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 201
              ? resolve(performance.now() - t)
              : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };

  for (let i = 0; i < warmup; i++) {
    await create(true);
    await create(false);
  }
  const withHook: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < creates; i++) {
    withHook.push(await create(true));
    without.push(await create(false));
  }
  const injected = JSON.parse(kubectl(['get', 'pod', '-n', 'bench', `p${n - 1}`, '-o', 'json']));
  if (injected.spec.initContainers?.[0]?.name !== 'mailroom-sender')
    throw new Error('the last pod was not injected');
  const rssMb = controller.rssMb();
  await controller.stop();
  agent.destroy();

  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
  };
  const f = (x: number) => x.toFixed(2).padStart(7);
  const row = (label: string, xs: number[]) => console.log(`${label}${f(pct(xs, 50))}  ${f(pct(xs, 99))}`);
  console.log(
    `pod create latency, real kube-apiserver on loopback, ${creates} creates each, alternating (ms);\n` +
      `webhook served by the compiled controller, node ${shippedNodeFlags().join(' ')}, NODE_OPTIONS=${shippedNodeOptions()}`,
  );
  console.log(`                                        p50      p99`);
  row('annotated (webhook called, injected)  ', withHook);
  row('not annotated (webhook not called)    ', without);
  console.log(
    `added by the webhook                   ${f(pct(withHook, 50) - pct(without, 50))}  ${f(pct(withHook, 99) - pct(without, 99))}   (target: p99 < 20)`,
  );
  console.log(`ratio annotated/plain p50: ${(pct(withHook, 50) / pct(without, 50)).toFixed(2)}x`);
  console.log(`controller RSS after the run: ${rssMb.toFixed(0)} MB`);
} finally {
  await cp.stop();
}
