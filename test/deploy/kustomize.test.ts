/**
 * `kubectl kustomize deploy/` renders what the README promises: the CRD, least-privilege RBAC and
 * a hardened controller Deployment; the example renders a native sidecar with its config Secret.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { CRD_PATH } from '../../src/api/crd.ts';
import { SIDECAR_COMMAND } from '../../src/webhook/constants.ts';

const run = promisify(execFile);
const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are read field by field
type Manifest = any;

async function render(dir: string): Promise<Manifest[]> {
  const { stdout } = await run('kubectl', ['kustomize', repo(dir)]);
  return parseAllDocuments(stdout).map((d) => d.toJS());
}

const find = (objects: Manifest[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} not rendered`);
  return found;
};

describe('kustomize base (deploy/)', () => {
  let objects: Manifest[];
  before(async () => {
    objects = await render('deploy');
  });

  test('renders the namespace, CRD, ServiceAccount, RBAC, Deployment and metrics Service', () => {
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ClusterRole/mailroom-controller',
      'ClusterRole/mailroom-webhook',
      'ClusterRoleBinding/mailroom-controller',
      'ClusterRoleBinding/mailroom-webhook',
      'CustomResourceDefinition/clusteremailsenders.mailroom.dev',
      'CustomResourceDefinition/emailsenders.mailroom.dev',
      'Deployment/mailroom-controller',
      'MutatingWebhookConfiguration/mailroom-sidecar-injector',
      'Namespace/mailroom-system',
      'NetworkPolicy/mailroom-controller',
      'PodDisruptionBudget/mailroom-controller',
      'Role/mailroom-leader-election',
      'Role/mailroom-webhook-tls',
      'RoleBinding/mailroom-leader-election',
      'RoleBinding/mailroom-webhook-tls',
      'Service/mailroom-controller-metrics',
      'Service/mailroom-webhook',
      'ServiceAccount/mailroom-controller',
    ]);
    for (const o of objects) {
      const clusterScoped = [
        'Namespace',
        'CustomResourceDefinition',
        'ClusterRole',
        'ClusterRoleBinding',
        'MutatingWebhookConfiguration',
      ];
      if (!clusterScoped.includes(o.kind)) assert.equal(o.metadata.namespace, 'mailroom-system', o.kind);
    }
  });

  test('the CRD is the generated one', async () => {
    const crd = find(objects, 'CustomResourceDefinition', 'emailsenders.mailroom.dev');
    const [generated] = parseAllDocuments(await readFile(repo(CRD_PATH), 'utf8')).map((d) => d.toJS());
    assert.deepEqual(crd.spec, generated.spec);
  });

  test('RBAC is least privilege: exactly the rules the controller needs', () => {
    const role = find(objects, 'ClusterRole', 'mailroom-controller');
    const grants = role.rules.flatMap((r: Manifest) =>
      r.resources.map((res: string) => `${r.apiGroups[0] || 'core'}/${res}: ${r.verbs.join(',')}`),
    );
    assert.deepEqual(grants, [
      'mailroom.dev/emailsenders: get,list,watch',
      'mailroom.dev/emailsenders/status: get,update,patch',
      'mailroom.dev/emailsenders/finalizers: update',
      'core/secrets: get,list,watch,create,update,patch',
      'events.k8s.io/events: create,patch',
      'mailroom.dev/clusteremailsenders: get,list,watch',
      'mailroom.dev/clusteremailsenders/status: get,update,patch',
      'mailroom.dev/clusteremailsenders/finalizers: update',
      'core/namespaces: list,watch',
      'core/pods: list,watch',
      // Only for ClusterEmailSender copies leaving a namespace (the one delete grant).
      'core/secrets: delete',
    ]);
    assert.ok(!JSON.stringify(role.rules).includes('"*"'), 'no wildcard');
    assert.equal(grants.filter((g: string) => /delete/.test(g)).length, 1, 'delete: Secrets only');
    const lease = find(objects, 'Role', 'mailroom-leader-election');
    assert.deepEqual(lease.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    ]);
    for (const [kind, name] of [
      ['ClusterRoleBinding', 'mailroom-controller'],
      ['RoleBinding', 'mailroom-leader-election'],
    ] as const) {
      assert.deepEqual(find(objects, kind, name).subjects, [
        { kind: 'ServiceAccount', name: 'mailroom-controller', namespace: 'mailroom-system' },
      ]);
    }
  });

  test('the Deployment runs the controller hardened, with probes and resources', () => {
    const d = find(objects, 'Deployment', 'mailroom-controller');
    const pod = d.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'mailroom-controller');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    const [c] = pod.containers;
    assert.equal(c.image, 'ghcr.io/mailroom-dev/mailroom:0.1.0');
    assert.deepEqual(c.args, ['controller', '--leader-elect', '--webhook-listen=:9443']);
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.deepEqual(
      c.ports.map((p: Manifest) => [p.name, p.containerPort]),
      [
        ['metrics', 8080],
        ['health', 8081],
        ['webhook', 9443],
      ],
    );
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'health' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'health' });
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.deepEqual(d.spec.selector.matchLabels, d.spec.template.metadata.labels);
  });

  test('only the webhook port of the controller pods admits traffic', () => {
    const d = find(objects, 'Deployment', 'mailroom-controller');
    const policy = find(objects, 'NetworkPolicy', 'mailroom-controller');
    assert.deepEqual(policy.spec.podSelector.matchLabels, d.spec.template.metadata.labels);
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    assert.deepEqual(policy.spec.ingress, [{ ports: [{ protocol: 'TCP', port: 'webhook' }] }]);
    // The named port is the one the webhook Service targets, so the policy follows a port change.
    const [c] = d.spec.template.spec.containers;
    assert.ok(c.ports.some((p: Manifest) => p.name === 'webhook' && p.containerPort === 9443));
    assert.equal(find(objects, 'Service', 'mailroom-webhook').spec.ports[0].targetPort, 'webhook');
  });

  test('voluntary disruptions and placement leave a replica answering the webhook', () => {
    const d = find(objects, 'Deployment', 'mailroom-controller');
    const labels = d.spec.template.metadata.labels;
    const pdb = find(objects, 'PodDisruptionBudget', 'mailroom-controller');
    assert.deepEqual(pdb.spec.selector.matchLabels, labels);
    assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < d.spec.replicas, 'drains one at a time');
    const terms =
      d.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    assert.deepEqual(
      terms.map((t: Manifest) => [
        t.podAffinityTerm.topologyKey,
        t.podAffinityTerm.labelSelector.matchLabels,
      ]),
      [
        ['kubernetes.io/hostname', labels],
        ['topology.kubernetes.io/zone', labels],
      ],
    );
  });
});

describe('namespace-scoped install (deploy/overlays/namespaced/)', () => {
  let objects: Manifest[];
  let base: Manifest[];
  before(async () => {
    [objects, base] = await Promise.all([render('deploy/overlays/namespaced'), render('deploy')]);
  });

  test('Roles and RoleBindings only: no ClusterRole, no cluster-wide binding, no webhook', () => {
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of ['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'])
      assert.ok(!kinds.has(k), `${k} rendered`);
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort(),
      [
        'CustomResourceDefinition//clusteremailsenders.mailroom.dev',
        'CustomResourceDefinition//emailsenders.mailroom.dev',
        'Deployment/mailroom-system/mailroom-controller',
        'Namespace//mailroom-system',
        'NetworkPolicy/mailroom-system/mailroom-controller',
        'PodDisruptionBudget/mailroom-system/mailroom-controller',
        'Role/mailroom-demo/mailroom-controller',
        'Role/mailroom-system/mailroom-leader-election',
        'Role/team-a/mailroom-controller',
        'RoleBinding/mailroom-demo/mailroom-controller',
        'RoleBinding/mailroom-system/mailroom-leader-election',
        'RoleBinding/team-a/mailroom-controller',
        'Service/mailroom-system/mailroom-controller-metrics',
        'ServiceAccount/mailroom-system/mailroom-controller',
      ],
    );
    for (const o of objects)
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'mailroom', o.kind);
  });

  test('each served namespace gets the rules of the cluster-wide install, bound to the controller', () => {
    // ClusterEmailSenders are cluster-scoped: a Role cannot grant them, and this install has none,
    // nor the rules only they need (namespace labels, consumer pods, deleting their copies).
    const clusterOnly = (r: Manifest) =>
      r.resources.some(
        (x: string) => x.startsWith('clusteremailsenders') || x === 'namespaces' || x === 'pods',
      ) ||
      (r.verbs.length === 1 && r.verbs[0] === 'delete');
    const namespaced = find(base, 'ClusterRole', 'mailroom-controller').rules.filter(
      (r: Manifest) => !clusterOnly(r),
    );
    const namespaces = objects.filter((o) => o.kind === 'Role' && o.metadata.name === 'mailroom-controller');
    assert.equal(namespaces.length, 2);
    for (const role of namespaces) assert.deepEqual(role.rules, namespaced, role.metadata.namespace);
    for (const b of objects.filter((o) => o.kind === 'RoleBinding')) {
      assert.deepEqual(b.subjects, [
        { kind: 'ServiceAccount', name: 'mailroom-controller', namespace: 'mailroom-system' },
      ]);
      assert.equal(b.roleRef.kind, 'Role', 'a RoleBinding to a Role of its own namespace');
    }
    // Secrets are granted only in the served namespaces.
    const secretGrants = objects
      .filter((o) => o.kind === 'Role' && o.rules.some((r: Manifest) => r.resources.includes('secrets')))
      .map((o) => o.metadata.namespace)
      .sort();
    assert.deepEqual(secretGrants, ['mailroom-demo', 'team-a']);
  });

  test('the controller watches exactly the namespaces it holds Roles in, and admits no traffic', () => {
    const d = find(objects, 'Deployment', 'mailroom-controller');
    const [c] = d.spec.template.spec.containers;
    const bound = objects
      .filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'mailroom-controller')
      .map((o) => `--namespace=${o.metadata.namespace}`);
    assert.deepEqual(c.args, ['controller', '--leader-elect', ...bound]);
    assert.deepEqual(
      c.ports.map((p: Manifest) => p.name),
      ['metrics', 'health'],
    );
    const policy = find(objects, 'NetworkPolicy', 'mailroom-controller');
    assert.deepEqual(policy.spec.ingress, []);
    // Otherwise the same Deployment as the cluster-wide install.
    const full = find(base, 'Deployment', 'mailroom-controller');
    assert.deepEqual(
      { ...d.spec.template.spec, containers: [{ ...c, args: [], ports: [] }] },
      {
        ...full.spec.template.spec,
        containers: [{ ...full.spec.template.spec.containers[0], args: [], ports: [] }],
      },
    );
  });
});

describe('components, from an overlay as a user writes it', () => {
  let objects: Manifest[];
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailroom-overlay-'));
    try {
      await cp(repo('deploy'), join(dir, 'deploy'), { recursive: true });
      await mkdir(join(dir, 'o'));
      await writeFile(
        join(dir, 'o', 'kustomization.yaml'),
        'resources: [../deploy]\ncomponents: [../deploy/webhook/cert-manager, ../deploy/components/restrict-egress]\n',
      );
      const { stdout } = await run('kubectl', ['kustomize', join(dir, 'o')]);
      objects = parseAllDocuments(stdout).map((d) => d.toJS());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("every namespaced object lands in the controller's namespace", () => {
    for (const [kind, name] of [
      ['NetworkPolicy', 'mailroom-controller-egress'],
      ['Certificate', 'mailroom-webhook'],
      ['Issuer', 'mailroom-webhook-selfsigned'],
    ])
      assert.equal(find(objects, kind!, name!).metadata.namespace, 'mailroom-system', `${kind} ${name}`);
  });

  test('restrict-egress: probes reach SMTP ports on public addresses only', () => {
    const d = find(objects, 'Deployment', 'mailroom-controller');
    const p = find(objects, 'NetworkPolicy', 'mailroom-controller-egress').spec;
    assert.deepEqual(p.podSelector.matchLabels, d.spec.template.metadata.labels);
    assert.deepEqual(p.policyTypes, ['Egress']);
    const [dns, api, smtp] = p.egress;
    assert.deepEqual(dns.to[0].podSelector.matchLabels, { 'k8s-app': 'kube-dns' });
    assert.deepEqual(
      dns.ports.map((x: Manifest) => `${x.protocol}/${x.port}`),
      ['UDP/53', 'TCP/53'],
    );
    assert.deepEqual(
      api.ports.map((x: Manifest) => x.port),
      [443, 6443],
    );
    assert.deepEqual(
      smtp.ports.map((x: Manifest) => x.port),
      [25, 465, 587, 2525],
    );
    const [v4, v6] = smtp.to.map((t: Manifest) => t.ipBlock);
    assert.equal(v4.cidr, '0.0.0.0/0');
    // Private networks, the cloud metadata endpoint (169.254.169.254) and loopback stay out.
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8'])
      assert.ok(v4.except.includes(cidr), cidr);
    assert.equal(v6.cidr, '::/0');
    assert.ok(v6.except.includes('fc00::/7') && v6.except.includes('fe80::/10'));
  });
});

describe('sidecar example (deploy/examples/)', () => {
  test('a native sidecar with the rendered config Secret mounted', async () => {
    const objects = await render('deploy/examples');
    const sender = find(objects, 'EmailSender', 'identity');
    const secret = find(objects, 'Secret', sender.spec.smtp.uriSecretRef.name);
    assert.equal(secret.metadata.namespace, sender.metadata.namespace);
    const pod = find(objects, 'Deployment', 'identity').spec.template.spec;
    const [sidecar] = pod.initContainers;
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.deepEqual(sidecar.args, ['sidecar', '--config', '/etc/mailroom/config.json']);
    // Started as the webhook starts it: from the image's startup snapshot.
    assert.deepEqual(sidecar.command, [...SIDECAR_COMMAND]);
    const mount = sidecar.volumeMounts.find((m: Manifest) => m.mountPath === '/etc/mailroom');
    const volume = pod.volumes.find((v: Manifest) => v.name === mount.name);
    assert.equal(volume.secret.secretName, `${sender.metadata.name}-mailroom`);
    assert.equal(sidecar.securityContext.readOnlyRootFilesystem, true);
    const env = Object.fromEntries(pod.containers[0].env.map((e: Manifest) => [e.name, e.value]));
    assert.equal(env.MAILROOM_SMTP_URL, 'smtp://127.0.0.1:1025/?disable_starttls=true');
  });
});
