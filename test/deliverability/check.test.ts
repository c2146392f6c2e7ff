/**
 * The deliverability check against a real DNS server on loopback (dnsmasq) serving one From domain
 * per case of issue 7, and against a DNS server that never answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  checkDeliverability,
  createDnsResolver,
  type DeliverabilityReport,
} from '../../src/deliverability/index.ts';
import {
  type DeliverabilityDns,
  DOMAINS,
  OTHER_SIGNER,
  SELECTOR,
  SMTP_HOST,
  startDeliverabilityDns,
  startSilentDns,
} from '../support/dns-zones.ts';

let dns: DeliverabilityDns;

before(async () => {
  dns = await startDeliverabilityDns();
});
after(async () => {
  await dns?.close();
});

function check(domain: string, opts: { signAs?: string; key?: string; dkim?: boolean } = {}) {
  return checkDeliverability({
    from: `no-reply@${domain}`,
    serverHost: SMTP_HOST,
    resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 1000 }),
    ...(opts.dkim === false
      ? {}
      : {
          dkim: { selector: SELECTOR, domain: opts.signAs ?? domain, privateKey: opts.key ?? dns.signingKey },
        }),
  });
}

/** The TXT record a message tells the user to publish, as `[name, value]`. */
function published(report: DeliverabilityReport): [string, string] {
  const m = / TXT (\S+) "([^"]+)"/.exec(report.message);
  assert.ok(m, `message names a TXT record: ${report.message}`);
  return [m[1]!, m[2]!];
}

describe('Deliverable against real DNS', () => {
  it('aligned SPF + DKIM + DMARC → Aligned, with every record reported', async () => {
    const r = await check(DOMAINS.aligned);
    assert.equal(r.reason, 'Aligned');
    assert.equal(r.status, 'True');
    assert.deepEqual(r.serverAddresses, ['127.0.0.1']);
    assert.equal(r.spf?.result, 'pass');
    assert.equal(r.spf?.record, `v=spf1 a:${SMTP_HOST} -all`);
    assert.equal(r.dkim?.result, 'pass');
    assert.equal(r.dkim?.name, `${SELECTOR}._domainkey.${DOMAINS.aligned}`);
    assert.match(r.dkim?.record ?? '', /p=MII/);
    assert.equal(r.dmarc?.result, 'pass');
    assert.equal(r.dmarc?.record, 'v=DMARC1; p=reject');
    assert.ok(Date.parse(r.checkedAt) > 0);
  });

  it('no SPF → NoSPFRecord, naming the record that authorizes the server', async () => {
    const r = await check(DOMAINS.noSpf);
    assert.equal(r.reason, 'NoSPFRecord');
    assert.equal(r.status, 'False');
    assert.deepEqual(published(r), [DOMAINS.noSpf, `v=spf1 a:${SMTP_HOST} ~all`]);
    assert.equal(r.dmarc?.result, 'pass', 'DKIM alone still aligns');
  });

  it('SPF that excludes the server → SPFDoesNotAuthorizeServer, keeping what it authorized', async () => {
    const r = await check(DOMAINS.spfExcludes);
    assert.equal(r.reason, 'SPFDoesNotAuthorizeServer');
    assert.equal(r.spf?.result, 'fail');
    assert.match(r.message, /127\.0\.0\.1/);
    assert.deepEqual(published(r), [DOMAINS.spfExcludes, `v=spf1 ip4:192.0.2.0/24 a:${SMTP_HOST} -all`]);
  });

  it('SPF over the 10-lookup limit → SPFPermError', async () => {
    const r = await check(DOMAINS.spfLookups);
    assert.equal(r.reason, 'SPFPermError');
    assert.equal(r.spf?.result, 'permerror');
    assert.match(r.message, /limit 10/);
  });

  it('no DMARC → NoDMARCRecord, naming _dmarc.<domain>', async () => {
    const r = await check(DOMAINS.noDmarc);
    assert.equal(r.reason, 'NoDMARCRecord');
    assert.equal(r.status, 'False');
    assert.deepEqual(published(r), [`_dmarc.${DOMAINS.noDmarc}`, 'v=DMARC1; p=quarantine; adkim=r; aspf=r']);
  });

  it('p=none → DMARCPolicyNone, informational (status True), suggesting the same record with quarantine', async () => {
    const r = await check(DOMAINS.pNone);
    assert.equal(r.reason, 'DMARCPolicyNone');
    assert.equal(r.status, 'True');
    const [name, value] = published(r);
    assert.equal(name, `_dmarc.${DOMAINS.pNone}`);
    assert.match(value, /^v=DMARC1; p=quarantine; rua=mailto:dmarc@pnone\.mailroom\.test,mailto:x@/);
  });

  it('DKIM key missing → DKIMKeyMissing, with the exact key record', async () => {
    const r = await check(DOMAINS.dkimMissing);
    assert.equal(r.reason, 'DKIMKeyMissing');
    const [name, value] = published(r);
    assert.equal(name, `${SELECTOR}._domainkey.${DOMAINS.dkimMissing}`);
    assert.match(value, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    // What it says to publish is exactly what the aligned zone publishes for the same key.
    const aligned = await check(DOMAINS.aligned);
    assert.equal(aligned.dkim?.record?.replace(/\s/g, ''), value.replace(/\s/g, ''));
  });

  it('DKIM key not the signing key → DKIMKeyMismatch', async () => {
    const r = await check(DOMAINS.dkimMismatch);
    assert.equal(r.reason, 'DKIMKeyMismatch');
    assert.equal(r.dkim?.result, 'fail');
    assert.match(r.message, /replacing the current record/);
    // The key it was made from verifies.
    const withOther = await check(DOMAINS.dkimMismatch, { key: dns.otherKey });
    assert.equal(withOther.reason, 'Aligned');
  });

  it('neither SPF nor DKIM aligned → DMARCNotAligned among the findings', async () => {
    const r = await check(DOMAINS.notAligned, { signAs: OTHER_SIGNER });
    assert.equal(r.reason, 'SPFDoesNotAuthorizeServer');
    assert.equal(r.dkim?.result, 'pass');
    assert.equal(r.dmarc?.result, 'fail');
    assert.deepEqual(
      r.findings.map((f) => f.reason),
      ['SPFDoesNotAuthorizeServer', 'DMARCNotAligned'],
    );
    assert.match(r.message, /Also \(DMARCNotAligned\)/);
  });

  it('without spec.dkim, SPF alone aligns and DKIM is not reported', async () => {
    const r = await check(DOMAINS.aligned, { dkim: false });
    assert.equal(r.reason, 'Aligned');
    assert.equal(r.dkim, undefined);
  });
});

describe('a DNS server that does not answer', () => {
  it('→ DNSLookupFailed (Unknown), for a host name and for an address', async () => {
    const silent = await startSilentDns();
    try {
      const resolver = createDnsResolver({ servers: [silent.address], timeoutMs: 200 });
      for (const serverHost of [SMTP_HOST, '127.0.0.1']) {
        const r = await checkDeliverability({ from: `no-reply@${DOMAINS.aligned}`, serverHost, resolver });
        assert.equal(r.reason, 'DNSLookupFailed', r.message);
        assert.equal(r.status, 'Unknown');
        assert.deepEqual(r.findings.length, 1);
      }
    } finally {
      await silent.close();
    }
  });
});
