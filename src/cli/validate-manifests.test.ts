import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { formatPath, validateManifests } from './validate-manifests.ts';

const sender = (spec: string, meta = '{ name: s, namespace: ns }') => `apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: ${meta}
spec:
${spec}`;
const minimal = '  smtp: { uriSecretRef: { name: smtp } }\n  from: { address: a@example.com }\n';
const secret = (body: string) => `apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: ns }
${body}`;
const check = (...texts: string[]) =>
  validateManifests(texts.map((text, i) => ({ file: `f${i}.yaml`, text })));
const errors = (r: Awaited<ReturnType<typeof check>>) =>
  r.findings.filter((f) => f.severity === 'error').map((f) => `${f.document} ${f.path ?? ''}: ${f.message}`);

describe('validateManifests', () => {
  test('a minimal EmailSender is valid; other kinds are skipped with an info', async () => {
    const r = await check(
      `${sender(minimal)}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n---\n`,
    );
    assert.equal(r.valid, true);
    assert.equal(r.emailSenders, 1);
    assert.equal(r.skipped, 1);
    assert.ok(
      r.findings.some((f) => f.severity === 'info' && f.document === 2 && /ConfigMap/.test(f.message)),
    );
  });

  test('schema errors name file, document and field path', async () => {
    const r = await check(
      `${sender(minimal)}---\n${sender(`${minimal.replace('a@example.com', 'nope')}  headers: { Bcc: x, X-Ok: "a\\nb" }\n  extra: 1\n`, '{ name: t, namespace: ns }')}`,
    );
    assert.equal(r.valid, false);
    assert.deepEqual(errors(r), [
      '2 spec.from.address: must be an email address such as no-reply@example.com',
      '2 spec.headers[Bcc]: is set by the sender itself and cannot be overridden (reserved: from, sender, to, cc, bcc, subject, date, message-id, return-path, received, mime-version, content-type, content-transfer-encoding, dkim-signature)',
      '2 spec.headers[X-Ok]: must not contain CR or LF (header injection)',
      '2 spec.extra: unknown field',
    ]);
    assert.ok(r.findings.every((f) => f.file === 'f0.yaml'));
  });

  test('one message per field: a non-duration is not also "out of range"', async () => {
    const r = await check(sender(`${minimal}  probe: { interval: soon }\n`));
    assert.deepEqual(errors(r), [
      '1 spec.probe.interval: must be a duration such as 30s, 10m or 1h30m (units ms, s, m, h)',
    ]);
  });

  test('metadata, apiVersion and duplicates are checked too', async () => {
    assert.deepEqual(errors(await check(sender(minimal, '{ namespace: ns }'))), [
      '1 metadata.name: Required value',
    ]);
    assert.match(
      errors(await check(sender(minimal).replace('v1alpha1', 'v9')))[0]!,
      /^1 apiVersion: unsupported version/,
    );
    assert.match(
      errors(await check(sender(minimal), sender(minimal)))[0]!,
      /also defined in f0\.yaml, document 1/,
    );
  });

  test('the URI in a Secret of the set is parsed: stringData, base64 data, errors and warnings', async () => {
    const good = await check(
      sender(minimal),
      secret('stringData: { uri: "smtp://u:pw-123456@mail.example.com/" }'),
    );
    assert.equal(good.valid, true);
    const info = good.findings.find((f) => f.code === 'URI');
    assert.equal(info?.message, 'Secret smtp key uri: smtp://u:***@mail.example.com:587/ (StartTLS)');

    const b64 = Buffer.from('smtp://u:pw-123456@mail.example.com:465/').toString('base64');
    const warned = await check(sender(minimal), secret(`data: { uri: ${b64} }`));
    assert.equal(warned.valid, true);
    assert.deepEqual(
      warned.findings.filter((f) => f.severity === 'warning').map((f) => f.code),
      ['StartTLSOnImplicitTLSPort'],
    );

    const bad = await check(
      sender(minimal),
      secret('stringData: { uri: "smtp://u:pw-123456@mail.example.com/?tls=yes" }'),
    );
    assert.match(
      errors(bad)[0]!,
      /^1 spec\.smtp\.uriSecretRef: the URI in Secret "smtp" key "uri" is invalid \(query\): the 1st query parameter is not one Mailroom knows/,
    );
  });

  test('a Secret without the key, or with bad base64, is an error; a Secret elsewhere is not checked', async () => {
    assert.deepEqual(errors(await check(sender(minimal), secret('stringData: { url: x }'))), [
      '1 spec.smtp.uriSecretRef.key: Secret "smtp" (spec.smtp.uriSecretRef) has no key "uri"; it has "url"',
    ]);
    assert.match(
      errors(await check(sender(minimal), secret('data: { uri: "%%%" }')))[0]!,
      /data\.uri is not base64/,
    );
    const other = await check(
      sender(minimal, '{ name: s, namespace: other }'),
      secret('stringData: { url: x }'),
    );
    assert.equal(other.valid, true);
    assert.ok(other.findings.some((f) => f.code === 'SecretNotInSet'));
  });

  test('caSecretRef: the bundle must hold a PEM certificate', async () => {
    const spec = minimal.replace('{ name: smtp } }', '{ name: smtp }, caSecretRef: { name: ca } }');
    const ca =
      'apiVersion: v1\nkind: Secret\nmetadata: { name: ca, namespace: ns }\nstringData: { ca.crt: nothing }\n';
    assert.match(errors(await check(sender(spec), ca))[0]!, /holds no PEM certificate/);
  });

  test('spec.dkim: the key must be an RSA PEM key, as the controller and the sidecar require', async () => {
    const spec = `${minimal}  dkim: { selector: s1, privateKeySecretRef: { name: dkim } }\n`;
    const key = (body: string) =>
      `apiVersion: v1\nkind: Secret\nmetadata: { name: dkim, namespace: ns }\nstringData: { private.pem: ${body} }\n`;
    assert.match(
      errors(await check(sender(spec), key('not-a-key-text')))[0]!,
      /dkim\.privateKeySecretRef: .*not a usable PEM key/,
    );
    const { privateKey } = generateKeyPairSync('ed25519');
    const ed = JSON.stringify(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.match(errors(await check(sender(spec), key(ed)))[0]!, /RSA keys only/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    assert.deepEqual(
      errors(await check(sender(spec), key(JSON.stringify(rsa.export({ type: 'pkcs8', format: 'pem' }))))),
      [],
    );
    assert.doesNotMatch(JSON.stringify(await check(sender(spec), key('not-a-key-text'))), /not-a-key-text/);
  });

  test('no finding ever holds the password, whatever breaks', async () => {
    const password = 'hunter2-s3cret';
    for (const uri of [
      `smtp://u:${password}@mail.example.com/`,
      `smtp://u:${password}/x@mail.example.com/`,
      `smtp://u:${password}@mail.example.com/?skip_ssl_verify=maybe`,
      `smtps://u:${password}@mail.example.com:587/?skip_ssl_verify=true`,
      `ftp://u:${password}@mail.example.com/`,
      `smtp://u:${password}@mail.example.com:99999/`,
    ]) {
      const r = await check(sender(minimal), secret(`stringData: { uri: ${JSON.stringify(uri)} }`));
      assert.doesNotMatch(JSON.stringify(r), /hunter2/, uri);
    }
  });

  test('a ClusterEmailSender: its schema with namespaceSelector, its URI from the cluster-resource namespace', async () => {
    const cluster = (spec: string) =>
      `apiVersion: mailroom.dev/v1alpha1\nkind: ClusterEmailSender\nmetadata: { name: platform }\nspec:\n${spec}`;
    const platformSecret = (ns: string) =>
      `apiVersion: v1\nkind: Secret\nmetadata: { name: smtp, namespace: ${ns} }\nstringData: { uri: "smtp://u:pw-1@mail.example.com/?tls=yes" }\n`;
    const selector = '  namespaceSelector: { matchExpressions: [{ key: team, operator: In }] }\n';
    const r = await check(cluster(minimal + selector));
    assert.equal(r.clusterEmailSenders, 1);
    assert.deepEqual(errors(r), [
      '1 spec.namespaceSelector.matchExpressions[0].values: In and NotIn need values; Exists and DoesNotExist take none',
    ]);
    // Only the cluster-resource namespace is looked in, never the application's.
    const inApps = await check(cluster(minimal), platformSecret('apps'));
    assert.equal(inApps.valid, true);
    assert.ok(inApps.findings.some((f) => f.code === 'SecretNotInSet'));
    assert.match(
      errors(await check(cluster(minimal), platformSecret('mailroom-system')))[0]!,
      /query parameter is not one Mailroom knows/,
    );
    const elsewhere = await validateManifests(
      [{ file: 'f', text: `${cluster(minimal)}---\n${platformSecret('platform')}` }],
      { clusterResourceNamespace: 'platform' },
    );
    assert.equal(elsewhere.valid, false);
  });

  test('YAML syntax errors and non-objects are reported per document', async () => {
    const r = await check(`${sender(minimal)}---\nmetadata: { name: [\n`, '- a list\n');
    assert.equal(r.valid, false);
    const yaml = r.findings.filter((f) => f.code === 'YAML');
    assert.ok(yaml.some((f) => f.file === 'f0.yaml' && f.document === 2));
    assert.ok(yaml.some((f) => f.file === 'f1.yaml' && f.document === 1 && /not a mapping/.test(f.message)));
  });
});

test('formatPath writes paths as the apiserver does', async () => {
  assert.equal(formatPath(['spec', 'headers', 'Foo']), 'spec.headers[Foo]');
  assert.equal(formatPath(['status', 'conditions', 0, 'type']), 'status.conditions[0].type');
  assert.equal(formatPath(['spec', 'from', 'address']), 'spec.from.address');
});
