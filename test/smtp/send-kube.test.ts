/**
 * `mailroom send --sender` / `--cluster-sender`, run as a process: the published config Secret is read
 * from a real kube-apiserver through the kubeconfig, and the message is composed and DKIM-signed as the
 * sidecar does (verified as a receiver would, with mailauth).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { authenticate } from 'mailauth';
import { API_VERSION } from '../../src/api/emailsender.ts';
import { configRevision, RENDERED_CONFIG_KIND, type RenderedConfig } from '../../src/api/rendered-config.ts';
import { type ControlPlane, startControlPlane } from '../../src/controlplane/index.ts';
import { kubectlOrThrow } from '../support/run-command.ts';
import { assertNoSecret, P, PASSWORD, USER, useSendFixture } from '../support/send-cli.ts';
import type { TestSmtpServer } from '../support/smtp-servers.ts';

const SELECTOR = 'mr2026';
const DOMAIN = 'example.test';
const fx = useSendFixture('mailroom-send-kube-');
const { send, smtp } = fx;

describe('mailroom send --sender / --cluster-sender on a real API server', () => {
  let cp: ControlPlane;
  let s: TestSmtpServer;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dkimRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

  /** The rendered config the controller publishes, as a Secret in `namespace`. */
  async function publish(namespace: string, secretName: string): Promise<void> {
    const body: Omit<RenderedConfig, 'revision'> = {
      apiVersion: API_VERSION,
      kind: RENDERED_CONFIG_KIND,
      sender: { namespace, name: 'identity' },
      smtp: {
        uri: `smtp://${USER}:${P}@localhost:${s.port}/`,
        localName: 'app.example.test',
        ca: fx.pki.ca.cert,
      },
      from: { address: `no-reply@${DOMAIN}`, name: 'Identity' },
      headers: { 'X-SES-CONFIGURATION-SET': 'identity' },
      dkim: {
        selector: SELECTOR,
        domain: DOMAIN,
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
      delivery: { maxAttempts: 3, maxBackoffMs: 1000, ratePerSecond: 0 },
    };
    const config = JSON.stringify({ ...body, revision: configRevision(body, 'uid-of-the-smtp-secret') });
    const manifest = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace },
      data: { 'config.json': Buffer.from(config).toString('base64') },
    };
    await kubectlOrThrow(cp.kubeconfigPath, ['apply', '-f', '-'], JSON.stringify(manifest));
  }

  before(async () => {
    [cp, s] = await Promise.all([
      startControlPlane(),
      smtp({ tls: fx.pki.valid, auth: { user: USER, pass: PASSWORD } }),
    ]);
    fx.onCleanup(() => cp.stop());
    await kubectlOrThrow(cp.kubeconfigPath, ['create', 'namespace', 'auth']);
    await publish('auth', 'identity-mailroom');
    await publish('default', 'platform-cluster-mailroom');
  });

  it('--sender NAMESPACE/NAME: composed and DKIM-signed as the sidecar would', async () => {
    // No NODE_EXTRA_CA_CERTS: the CA comes from the published config, as in the sidecar.
    const out = await send(['--sender', 'auth/identity', '--to', 'dave@example.org'], {
      KUBECONFIG: cp.kubeconfigPath,
      NODE_EXTRA_CA_CERTS: '',
    });
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /✔ Sent: .*250 OK: message queued/);
    const m = s.received.at(-1)!;
    assert.equal(m.user, USER);
    assert.match(m.data, /^From: Identity <no-reply@example\.test>$/m);
    assert.match(m.data, /^X-SES-CONFIGURATION-SET: identity$/im);
    assert.match(m.data, /^DKIM-Signature: .*d=example\.test;\s.*s=mr2026;/ms);
    const verdict = await authenticate(m.data, {
      ip: '127.0.0.1',
      helo: 'app.example.test',
      sender: m.from,
      resolver: (async (name: string, type: string) => {
        if (type === 'TXT' && name === `${SELECTOR}._domainkey.${DOMAIN}`) return [[dkimRecord]];
        throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
      }) as never,
      disableArc: true,
      disableBimi: true,
    });
    assert.equal(verdict.dkim.results[0]?.status.result, 'pass', JSON.stringify(verdict.dkim.results));
    assertNoSecret(out.stdout + out.stderr);
  });

  it('--cluster-sender NAME reads <name>-cluster-mailroom in the current namespace', async () => {
    const out = await send(['--cluster-sender', 'platform', '--to', 'erin@example.org', '--output', 'json'], {
      KUBECONFIG: cp.kubeconfigPath,
    });
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.deepEqual(s.received.at(-1)?.to, ['erin@example.org']);
  });

  it('a sender without a published config is bad input (exit 2) that says why', async () => {
    const out = await send(['--sender', 'missing', '-n', 'auth', '--to', 'a@example.org'], {
      KUBECONFIG: cp.kubeconfigPath,
    });
    assert.equal(out.code, 2, out.stdout + out.stderr);
    assert.match(
      out.stderr,
      /Secret auth\/missing-mailroom not found: the EmailSender auth\/missing does not exist/,
    );
  });
});
