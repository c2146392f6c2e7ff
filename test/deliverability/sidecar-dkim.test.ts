/**
 * DKIM signing in the sidecar's delivery path: a rendered config with `dkim` (as the controller
 * publishes it), the sidecar reading it from its file, both front doors, a real upstream
 * `smtp-server` capturing the raw message, and mailauth verifying it against dnsmasq on loopback:
 * DKIM pass, and DMARC pass where the domain is aligned.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { authenticate } from 'mailauth';
import nodemailer from 'nodemailer';
import { API_VERSION } from '../../src/api/emailsender.ts';
import { configRevision, RENDERED_CONFIG_KIND, type RenderedConfig } from '../../src/api/rendered-config.ts';
import { createDnsResolver } from '../../src/deliverability/resolver.ts';
import type { Sidecar } from '../../src/sidecar/sidecar.ts';
import {
  type DeliverabilityDns,
  DOMAINS,
  OTHER_SIGNER,
  SELECTOR,
  SMTP_HOST,
  SMTP_IP,
  startDeliverabilityDns,
} from '../support/dns-zones.ts';
import { testSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, type Upstream, waitFor } from '../support/sidecar-upstream.ts';

/** Stands in for the uid of the Secret the controller would have read the config from. */
const TEST_REVISION_KEY = 'uid-of-the-smtp-secret';

let dns: DeliverabilityDns;
let upstream: Upstream;
const sidecars: Sidecar[] = [];
const dirs: Array<{ remove(): void }> = [];

before(async () => {
  dns = await startDeliverabilityDns();
  upstream = await startUpstream({ tls: 'none' });
});
after(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await upstream?.close();
  await dns?.close();
  for (const d of dirs) d.remove();
});

/** Starts a sidecar from a rendered config file that signs as `signAs` for mail From `from`. */
async function sidecarFor(from: string, signAs: string): Promise<Sidecar> {
  const tmp = tempDir();
  dirs.push(tmp);
  const body: Omit<RenderedConfig, 'revision'> = {
    apiVersion: API_VERSION,
    kind: RENDERED_CONFIG_KIND,
    sender: { namespace: 'mail', name: 'identity' },
    smtp: { uri: `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`, localName: SMTP_HOST },
    from: { address: from, name: 'Identity' },
    headers: {},
    dkim: { selector: SELECTOR, domain: signAs, privateKey: dns.signingKey },
    delivery: { maxAttempts: 3, maxBackoffMs: 1000, ratePerSecond: 0 },
  };
  const path = join(tmp.dir, 'config.json');
  writeFileSync(path, JSON.stringify({ ...body, revision: configRevision(body, TEST_REVISION_KEY) }));
  const sc = await testSidecar(join(tmp.dir, 'data'), { path });
  sidecars.push(sc);
  return sc;
}

/** What a receiver concludes about a raw message delivered from the SMTP server's address. */
async function receive(raw: string, mailFrom: string) {
  const r = await authenticate(raw, {
    ip: SMTP_IP,
    helo: SMTP_HOST,
    sender: mailFrom,
    mta: 'mx.receiver.test',
    resolver: createDnsResolver({ servers: [dns.address] }) as never,
    disableArc: true,
    disableBimi: true,
  });
  // mailauth reports a check it could not run as `false`.
  return { dkim: r.dkim, spf: r.spf || undefined, dmarc: r.dmarc || undefined };
}

async function viaHttp(sc: Sidecar, subject: string) {
  const res = await fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: 'alice@example.org', subject, text: 'Your code is 123456\n' }),
  });
  assert.equal(res.status, 202);
  return waitFor(() => upstream.received.find((m) => m.headers.get('subject') === subject));
}

async function viaSmtp(sc: Sidecar, subject: string) {
  const client = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sc.smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  await client.sendMail({ from: 'app@localhost', to: 'bob@example.org', subject, text: 'Follow the link\n' });
  client.close();
  return waitFor(() => upstream.received.find((m) => m.headers.get('subject') === subject));
}

describe('the sidecar signs with DKIM', () => {
  it('aligned domain: DKIM pass and DMARC pass, through both front doors', async () => {
    const from = `no-reply@${DOMAINS.aligned}`;
    const sc = await sidecarFor(from, DOMAINS.aligned);
    for (const got of [await viaHttp(sc, 'aligned http'), await viaSmtp(sc, 'aligned smtp')]) {
      assert.match(got.raw, /^DKIM-Signature: /m);
      const r = await receive(got.raw, got.mailFrom);
      assert.equal(r.dkim.results[0]?.status.result, 'pass', JSON.stringify(r.dkim.results[0]?.status));
      assert.equal(r.dkim.results[0]?.signingDomain, DOMAINS.aligned);
      assert.equal(r.spf?.status.result, 'pass');
      assert.equal(r.dmarc?.status.result, 'pass');
      assert.equal(r.dmarc?.alignment.dkim.result, DOMAINS.aligned);
    }
  });

  it('DKIM alone carries DMARC when SPF does not authorize the server', async () => {
    const from = `no-reply@${DOMAINS.spfExcludes}`;
    const sc = await sidecarFor(from, DOMAINS.spfExcludes);
    const got = await viaHttp(sc, 'spf excluded');
    const r = await receive(got.raw, got.mailFrom);
    assert.equal(r.spf?.status.result, 'fail');
    assert.equal(r.dkim.results[0]?.status.result, 'pass');
    assert.equal(r.dmarc?.status.result, 'pass');
  });

  it('signed as another domain: DKIM passes but does not align, and DMARC fails', async () => {
    const from = `no-reply@${DOMAINS.notAligned}`;
    const sc = await sidecarFor(from, OTHER_SIGNER);
    const got = await viaHttp(sc, 'not aligned');
    const r = await receive(got.raw, got.mailFrom);
    assert.equal(r.dkim.results[0]?.status.result, 'pass');
    assert.equal(r.dkim.results[0]?.signingDomain, OTHER_SIGNER);
    assert.equal(r.dmarc?.status.result, 'fail');
  });

  it('a published key that is not the signing key: DKIM fails at the receiver', async () => {
    const from = `no-reply@${DOMAINS.dkimMismatch}`;
    const sc = await sidecarFor(from, DOMAINS.dkimMismatch);
    const got = await viaHttp(sc, 'mismatch');
    const r = await receive(got.raw, got.mailFrom);
    assert.equal(r.dkim.results[0]?.status.result, 'fail');
  });
});
