/**
 * The generated CRD on a real kube-apiserver, driven with the real kubectl: accepted, explained,
 * defaulting valid EmailSenders, refusing bad ones with a message that names the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type ControlPlane, installCRDs, startControlPlane } from '../../src/controlplane/index.ts';
import { kubectl, kubectlOk } from './kubectl.ts';

const crdsDir = fileURLToPath(new URL('../../crds', import.meta.url));
const ns = 'crd-test';

/** An EmailSender manifest; `spec` lines replace the valid default body. */
const sender = (name: string, spec = validSpec) => `apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}`;

const validSpec = `  smtp:
    uriSecretRef: { name: smtp }
  from: { address: no-reply@example.com, name: Example Identity }
  headers: { X-SES-CONFIGURATION-SET: identity }
`;

describe('EmailSender CRD on a real apiserver', () => {
  let cp: ControlPlane;
  const k = (args: string[], input?: string) => kubectl(cp.kubeconfigPath, args, input);
  const ok = (args: string[], input?: string) => kubectlOk(cp.kubeconfigPath, args, input);

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp.kubeconfigPath, crdsDir);
    await ok(['create', 'namespace', ns]);
  });
  after(() => cp?.stop());

  test('the CRD is established, with short name and category', async () => {
    const crd = JSON.parse(await ok(['get', 'crd', 'emailsenders.mailroom.dev', '-o', 'json']));
    const established = crd.status.conditions.find((c: { type: string }) => c.type === 'Established');
    assert.equal(established.status, 'True');
    const resources = await ok(['api-resources', '--api-group=mailroom.dev', '--no-headers']);
    assert.match(resources, /^emailsenders\s+esender\s+mailroom\.dev\/v1alpha1\s+true\s+EmailSender/m);
    assert.equal((await ok(['get', 'mailroom', '-A', '-o', 'name'])).trim(), '');
  });

  test('kubectl explain emailsender.spec.smtp teaches each field', async () => {
    // The OpenAPI document is published a little after the CRD is Established.
    let text = '';
    for (let i = 0; i < 100 && text === ''; i++) {
      const r = await k(['explain', 'emailsender.spec.smtp']);
      if (r.code === 0) text = r.stdout;
      else await sleep(200);
    }
    assert.match(text, /How to reach the SMTP server\./);
    assert.match(text, /uriSecretRef\s+<Object> -required-/);
    assert.match(text, /Reference to the SMTP connection URI/);
    assert.match(text, /Name announced in EHLO/);
    const nested = await ok(['explain', 'emailsender.status.conditions.reason']);
    assert.match(nested, /One-word CamelCase reason/);
  });

  test('ClusterEmailSender: cluster-scoped, explained, defaulted; a bad selector refused by its CEL rule', async () => {
    const resources = await ok(['api-resources', '--api-group=mailroom.dev', '--no-headers']);
    assert.match(
      resources,
      /^clusteremailsenders\s+cesender\s+mailroom\.dev\/v1alpha1\s+false\s+ClusterEmailSender/m,
    );
    let text = '';
    for (let i = 0; i < 100 && text === ''; i++) {
      const r = await k(['explain', 'clusteremailsender.spec']);
      if (r.code === 0) text = r.stdout;
      else await sleep(200);
    }
    assert.match(text, /namespaceSelector\s+<Object>/);
    assert.match(text, /Empty \(the default\) selects every namespace/);
    assert.match(
      await ok(['explain', 'clusteremailsender.spec.smtp.uriSecretRef']),
      /cluster-resource namespace/,
    );
    const cluster = (selector: string) => `apiVersion: mailroom.dev/v1alpha1
kind: ClusterEmailSender
metadata: { name: platform }
spec:
${validSpec}  namespaceSelector: ${selector}
`;
    await ok(['apply', '-f', '-'], cluster('{ matchLabels: { mailroom.dev/email: allowed } }'));
    const got = JSON.parse(await ok(['get', 'cesender', 'platform', '-o', 'json']));
    assert.equal(got.metadata.namespace, undefined);
    assert.deepEqual(got.spec.smtp.uriSecretRef, { name: 'smtp', key: 'uri' });
    const bad = await k(['apply', '-f', '-'], cluster('{ matchExpressions: [{ key: team, operator: In }] }'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /In and NotIn need values; Exists and DoesNotExist take none/);
  });

  test('a valid EmailSender is accepted and defaulted', async () => {
    await ok(['apply', '-f', '-'], sender('identity'));
    const got = JSON.parse(await ok(['-n', ns, 'get', 'esender', 'identity', '-o', 'json']));
    assert.deepEqual(got.spec.smtp.uriSecretRef, { name: 'smtp', key: 'uri' });
    assert.deepEqual(got.spec.probe, {
      interval: '10m',
      timeout: '10s',
      authenticate: true,
      checkSender: false,
    });
    assert.deepEqual(got.spec.delivery, { maxAttempts: 6, maxBackoff: '1h', ratePerSecond: 0 });
    assert.equal(got.spec.suspend, false);
  });

  test('printer columns read the Ready condition; Message only with -o wide', async () => {
    const status = {
      status: {
        observedGeneration: 1,
        endpoint: 'smtp.example.com:587',
        security: 'StartTLS',
        consumers: 3,
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'AuthenticationFailed',
            message: 'the server rejected the credentials',
            lastTransitionTime: '2026-01-01T00:00:00Z',
            observedGeneration: 1,
          },
        ],
      },
    };
    await ok([
      '-n',
      ns,
      'patch',
      'esender',
      'identity',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    const plain = await ok(['-n', ns, 'get', 'esender', 'identity']);
    assert.match(plain, /^NAME\s+READY\s+REASON\s+ENDPOINT\s+SECURITY\s+AGE\s*$/m);
    assert.match(plain, /^identity\s+False\s+AuthenticationFailed\s+smtp\.example\.com:587\s+StartTLS\s+/m);
    assert.doesNotMatch(plain, /MESSAGE/);
    const wide = await ok(['-n', ns, 'get', 'esender', 'identity', '-o', 'wide']);
    assert.match(wide, /^NAME\s+READY\s+REASON\s+ENDPOINT\s+SECURITY\s+AGE\s+CONSUMERS\s+MESSAGE\s*$/m);
    assert.match(wide, /StartTLS\s+\S+\s+3\s+the server rejected the credentials/);
  });

  const bad: { name: string; spec: string; field: RegExp; says: RegExp }[] = [
    {
      name: 'bad email',
      spec: validSpec.replace('no-reply@example.com', 'no-reply'),
      field: /spec\.from\.address/,
      says: /must be an email address/,
    },
    {
      name: 'bad duration',
      spec: `${validSpec}  probe: { interval: 10 minutes }\n`,
      field: /spec\.probe\.interval/,
      says: /must be a duration such as 30s/,
    },
    {
      name: 'duration out of range',
      spec: `${validSpec}  probe: { interval: 1s }\n`,
      field: /spec\.probe\.interval/,
      says: /must be between 10s and 24h/,
    },
    {
      name: 'reserved header',
      spec: validSpec.replace('X-SES-CONFIGURATION-SET: identity', 'From: evil@example.com'),
      field: /spec\.headers/,
      says: /"From" is set by the sender itself/,
    },
    {
      name: 'header value with CR/LF',
      spec: validSpec.replace('X-SES-CONFIGURATION-SET: identity', 'X-Tag: "a\\r\\nBcc: victim@example.com"'),
      field: /spec\.headers\[X-Tag\]/,
      says: /must not contain CR or LF/,
    },
    {
      name: 'header name with a colon',
      spec: validSpec.replace('X-SES-CONFIGURATION-SET: identity', '"X-Bad:Name": v'),
      field: /spec\.headers/,
      says: /header field name/,
    },
    {
      name: 'missing uriSecretRef',
      spec: validSpec.replace('uriSecretRef: { name: smtp }', 'localName: mail.example.com'),
      field: /spec\.smtp\.uriSecretRef/,
      says: /Required value/,
    },
    {
      name: 'unknown field',
      spec: `${validSpec}  retries: 3\n`,
      field: /spec\.retries/,
      says: /unknown field/,
    },
    {
      name: 'namespace in a secret reference',
      spec: validSpec.replace('{ name: smtp }', '{ name: smtp, namespace: other }'),
      field: /spec\.smtp\.uriSecretRef\.namespace/,
      says: /unknown field/,
    },
  ];
  for (const c of bad) {
    test(`refuses ${c.name}, naming the field`, async () => {
      const r = await k(
        ['apply', '-f', '-'],
        sender(`bad-${c.name.toLowerCase().replace(/\W+/g, '-')}`, c.spec),
      );
      assert.notEqual(r.code, 0, `accepted: ${r.stdout}`);
      assert.match(r.stderr, c.field);
      assert.match(r.stderr, c.says);
      assert.doesNotMatch(r.stderr, /metadata\.name/, 'only the field under test is wrong');
      if (process.env.MAILROOM_TEST_SHOW) console.log(r.stderr.trim());
    });
  }
});
