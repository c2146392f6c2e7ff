/**
 * The controller writes only Secrets its senders control (issue 11), end to end on a real
 * apiserver: a foreign `<name>-mailroom` is left byte for byte as it was, the sender stalls with
 * `ConfigSecretConflict`, and it publishes by itself once that Secret is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EmailSender } from '../../src/api/emailsender.ts';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const NS = 'owners';
const USER = 'mailer';
const PASSWORD = 'Own3rship-pw';

interface SecretJson {
  data?: Record<string, string>;
  metadata: { resourceVersion: string; ownerReferences?: Array<{ uid: string; controller?: boolean }> };
}

describe('config Secret ownership on a real apiserver', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let smtp: TestSmtpServer;
  const get = async (name: string): Promise<EmailSender> =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsender', name, '-o', 'json'));
  const secret = async (name: string): Promise<SecretJson> =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'secret', name, '-o', 'json'));
  const cond = (s: EmailSender, type: string) => s.status?.conditions?.find((c) => c.type === type);
  const waitReason = (name: string, reason: string) =>
    eventually(
      async () => {
        const s = await get(name);
        return (
          cond(s, 'Ready')?.reason === reason && s.status?.observedGeneration === s.metadata.generation && s
        );
      },
      20_000,
      `${name} ${reason}`,
    );

  before(async () => {
    env = await startControllerEnv();
    smtp = await startSmtpServer({ mode: 'plain', auth: { user: USER, pass: PASSWORD } });
    await env.kubectl('create', 'namespace', NS);
    await env.apply(`apiVersion: v1
kind: Secret
metadata: { name: smtp, namespace: ${NS} }
stringData: { uri: ${JSON.stringify(`smtp://${USER}:${PASSWORD}@127.0.0.1:${smtp.port}/?disable_starttls=true`)} }
`);
    controller = await env.startController();
  });
  after(async () => {
    await controller?.stop();
    await smtp?.close();
    await env?.stop();
  });

  test('a foreign <name>-mailroom is left untouched; the sender stalls with ConfigSecretConflict, then recovers by itself', async () => {
    await env.kubectl('-n', NS, 'create', 'secret', 'generic', 'billing-mailroom', '--from-literal=keep=me');
    const before = await secret('billing-mailroom');
    await env.apply(`apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: billing, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: smtp } }
  from: { address: billing@example.com }
`);
    const s = await waitReason('billing', 'ConfigSecretConflict');
    assert.equal(cond(s, 'Ready')?.status, 'False');
    assert.equal(cond(s, 'Stalled')?.status, 'True');
    assert.equal(cond(s, 'Stalled')?.reason, 'ConfigSecretConflict');
    assert.match(
      cond(s, 'Ready')!.message,
      /Secret "billing-mailroom" already exists.*Rename or delete that Secret/,
    );
    assert.equal(s.status?.config, undefined, 'nothing published');
    const after = await secret('billing-mailroom');
    assert.deepEqual(after, before, 'the foreign Secret is exactly as it was');

    await env.kubectl('-n', NS, 'delete', 'secret', 'billing-mailroom');
    const recovered = await waitReason('billing', 'Verified');
    assert.equal(cond(recovered, 'Stalled'), undefined);
    const published = await secret('billing-mailroom');
    assert.deepEqual(
      published.metadata.ownerReferences?.map((r) => [r.uid, r.controller]),
      [[recovered.metadata.uid, true]],
    );
    assert.equal(recovered.status?.config?.secretName, 'billing-mailroom');
    assert.equal(published.data?.keep, undefined);
  });

  test('a Secret controlled by something else is untouched too, and the message names it', async () => {
    await env.kubectl('-n', NS, 'create', 'configmap', 'holder');
    const holder = JSON.parse(await env.kubectl('-n', NS, 'get', 'configmap', 'holder', '-o', 'json'));
    await env.apply(`apiVersion: v1
kind: Secret
metadata:
  name: orders-mailroom
  namespace: ${NS}
  ownerReferences: [{ apiVersion: v1, kind: ConfigMap, name: holder, uid: ${holder.metadata.uid}, controller: true }]
stringData: { keep: me }
`);
    const before = await secret('orders-mailroom');
    await env.apply(`apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: orders, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: smtp } }
  from: { address: orders@example.com }
`);
    const s = await waitReason('orders', 'ConfigSecretConflict');
    assert.match(cond(s, 'Ready')!.message, /controlled by ConfigMap "holder"/);
    assert.deepEqual(await secret('orders-mailroom'), before);
  });
});
