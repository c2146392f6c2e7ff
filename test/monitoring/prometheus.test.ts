/**
 * A real Prometheus (Debian's /usr/bin/prometheus, on loopback, 1 s scrape and evaluation) scrapes
 * the real controller on a real kube-apiserver and a real sidecar running the config the controller
 * published, with the real alerting rules (only `for:` shortened); MailroomSenderNotReady fires for
 * a broken sender and for nothing else. The API server's webhook metrics that MailroomWebhookErrors
 * reads are checked against a real kube-apiserver failing to call a webhook.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import { freePort, post, type SidecarProcess, simple, spawnSidecar } from '../support/sidecar-harness.ts';
import { closedPort, createTestPki, startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';
import { OUTSIDE } from './exported-metrics.ts';
import { ruleFile } from './rules.ts';

const NS = 'mail';
const USER = 'mailer';
const PASSWORD = 'Pw-prom-4d1e!q';

interface PromAlert {
  labels: Record<string, string>;
  state: string;
}

describe('Prometheus scrapes the controller and a sidecar; the alert fires for a broken sender', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let smtp: TestSmtpServer;
  let sidecar: SidecarProcess;
  let prometheus: ChildProcess;
  let promUrl: string;
  let dir: string;
  const promLog: string[] = [];

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${promUrl}${path}`);
    const body = (await res.json()) as { status: string; data: T };
    assert.equal(body.status, 'success', path);
    return body.data;
  };
  const query = (q: string) =>
    api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(q)}`,
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailroom-prometheus-'));
    env = await startControllerEnv();
    const pki = await createTestPki();
    smtp = await startSmtpServer({ tls: pki.valid, auth: { user: USER, pass: PASSWORD } });
    await env.kubectl('create', 'namespace', NS);
    const sender = (name: string, port: number) => `apiVersion: v1
kind: Secret
metadata: { name: ${name}-smtp, namespace: ${NS} }
stringData: { uri: "smtp://${USER}:${encodeURIComponent(PASSWORD)}@localhost:${port}/" }
---
apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: ${name}-smtp }, caSecretRef: { name: corp-ca } }
  from: { address: no-reply@example.com }
  probe: { interval: 10s, timeout: 2s }
`;
    await env.apply(`apiVersion: v1
kind: Secret
metadata: { name: corp-ca, namespace: ${NS} }
stringData: { ca.crt: ${JSON.stringify(pki.ca.cert)} }
---
${sender('identity', smtp.port)}---
${sender('broken', await closedPort())}`);
    controller = await env.startController();
    await env.kubectl('-n', NS, 'wait', '--for=condition=Ready', 'emailsender/identity', '--timeout=60s');

    // The sidecar runs the config the controller published, as the injected one mounts it.
    const published = JSON.parse(
      await env.kubectl('-n', NS, 'get', 'secret', 'identity-mailroom', '-o', 'json'),
    );
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, Buffer.from(published.data['config.json'], 'base64'), { mode: 0o600 });
    const sidecarMetrics = `127.0.0.1:${await freePort()}`;
    sidecar = await spawnSidecar([
      '--config',
      configPath,
      '--data-dir',
      join(dir, 'queue'),
      '--metrics-listen',
      sidecarMetrics,
    ]);

    const rules = join(dir, 'mailroom-rules.yaml');
    await writeFile(rules, await ruleFile('5s'));
    const config = join(dir, 'prometheus.yml');
    await writeFile(
      config,
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [rules],
        scrape_configs: [
          // The job name the ServiceMonitor gives (the Service's name), which the rules rely on.
          {
            job_name: 'mailroom-controller-metrics',
            static_configs: [{ targets: [new URL(controller.metricsUrl).host] }],
          },
          { job_name: 'mailroom-sender', static_configs: [{ targets: [sidecarMetrics] }] },
        ],
      }),
    );
    promUrl = `http://127.0.0.1:${await freePort()}`;
    prometheus = spawn(
      '/usr/bin/prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=${new URL(promUrl).host}`,
        '--web.console.templates=/nonexistent',
        '--web.console.libraries=/nonexistent',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stderr?.setEncoding('utf8').on('data', (d: string) => promLog.push(d));
    await eventually(
      async () => (await fetch(`${promUrl}/-/ready`)).ok,
      30_000,
      `Prometheus ready (log: ${promLog.join('').slice(-2000)})`,
    );
  });

  after(async () => {
    prometheus?.kill('SIGTERM');
    await sidecar?.kill();
    await controller?.stop();
    await smtp?.close();
    await env?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('both targets are up; the sidecar series name their sender and count a delivery', async () => {
    const accepted = await post(sidecar.httpPort, simple(1));
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    await eventually(() => Promise.resolve(smtp.received.length === 1), 15_000, 'the message delivered');
    const up = await eventually(
      async () => {
        const r = await query('up == 1');
        return r.result.length === 2 && r.result;
      },
      20_000,
      'both targets up',
    );
    assert.deepEqual(up.map((r) => r.metric.job).sort(), ['mailroom-controller-metrics', 'mailroom-sender']);
    const sent = await eventually(
      async () =>
        (await query('mailroom_sidecar_delivery_attempts_total{result="sent"}')).result.find(
          (r) => r.value[1] === '1',
        ),
      20_000,
      'the sent attempt scraped',
    );
    assert.equal(sent.metric.sender_namespace, NS);
    assert.equal(sent.metric.sender_name, 'identity');
    const senders = await query('mailroom_senders{condition="Ready",status="True"}');
    assert.equal(senders.result[0]?.value[1], '1', 'one Ready sender');
  });

  test('MailroomSenderNotReady fires with the broken sender’s reason, and no other alert fires', async () => {
    const broken = JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsender', 'broken', '-o', 'json'));
    const reason = broken.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.reason;
    assert.ok(reason && reason !== 'Verified', `broken has Ready reason ${reason}`);
    const firing = await eventually(
      async () => {
        const { alerts } = await api<{ alerts: PromAlert[] }>('/api/v1/alerts');
        return alerts.find((a) => a.labels.alertname === 'MailroomSenderNotReady' && a.state === 'firing');
      },
      60_000,
      'MailroomSenderNotReady firing',
    );
    assert.equal(firing.labels.reason, reason);
    assert.equal(firing.labels.severity, 'warning');
    const { alerts } = await api<{ alerts: PromAlert[] }>('/api/v1/alerts');
    assert.deepEqual(
      [...new Set(alerts.map((a) => a.labels.alertname))],
      ['MailroomSenderNotReady'],
      'the controller is up, nothing abandoned, the queue is empty',
    );
  });

  test("the API server's webhook metrics carry the names and labels MailroomWebhookErrors reads", async () => {
    const port = await closedPort();
    const webhook = (policy: string) => `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: { name: mailroom-sidecar-injector }
webhooks:
  - name: sidecar.mailroom.dev
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: ${policy}
    timeoutSeconds: 2
    clientConfig: { url: "https://127.0.0.1:${port}/mutate-pods" }
    rules: [{ operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods] }]
    namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: ${NS} } }
`;
    const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${NS}, annotations: { mailroom.dev/sender: identity } }
spec: { containers: [{ name: app, image: example.com/app:1 }] }
`;
    await env.apply(webhook('Ignore'));
    await eventually(
      async () => Boolean(await env.apply(pod('fail-open'))),
      10_000,
      'a pod admitted failing open',
    );
    await env.apply(webhook('Fail'));
    await eventually(
      async () => {
        try {
          await env.apply(pod('refused'));
          return false;
        } catch (err) {
          return /sidecar\.mailroom\.dev/.test(String(err));
        }
      },
      10_000,
      'a pod refused by the unreachable webhook',
    );
    const metrics = await env.kubectl('get', '--raw', '/metrics');
    for (const name of [
      'apiserver_admission_webhook_fail_open_count',
      'apiserver_admission_webhook_rejection_count',
    ]) {
      const line = metrics
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) && l.includes('name="sidecar.mailroom.dev"'));
      assert.ok(line, `${name} for sidecar.mailroom.dev not in the API server's /metrics`);
      const labels = [...line.matchAll(/([a-zA-Z_]+)="/g)].map((m) => m[1]!);
      for (const l of OUTSIDE[name]!) assert.ok(labels.includes(l), `${name} has no label ${l}: ${line}`);
      if (name.endsWith('rejection_count')) assert.match(line, /error_type="calling_webhook_error"/);
    }
  });
});
