/** The caching resolver against a real dnsmasq: TTL-bounded positive and negative caching, no caching of timeouts. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDnsResolver } from '../../src/deliverability/resolver.ts';
import { startSilentDns } from '../support/dns-zones.ts';
import { startDnsmasq, type TestDns } from '../support/dnsmasq.ts';

let dns: TestDns;
before(async () => {
  dns = await startDnsmasq(
    { 'host.mailroom.test': '192.0.2.7' },
    { txt: { 'long.mailroom.test': `v=DKIM1; k=rsa; p=${'A'.repeat(400)}` } },
  );
});
after(async () => {
  await dns?.close();
});

describe('createDnsResolver', () => {
  it('answers TXT as character-strings (joined by receivers) and A with addresses', async () => {
    const r = createDnsResolver({ servers: [dns.address] });
    const txt = (await r('long.mailroom.test', 'TXT')) as string[][];
    assert.equal(txt[0]!.length, 2);
    assert.equal(txt[0]!.join('').length, 'v=DKIM1; k=rsa; p='.length + 400);
    assert.deepEqual(await r('host.mailroom.test', 'A'), ['192.0.2.7']);
  });

  it('caches answers and negative answers until their TTL, then asks again', async () => {
    let now = 0;
    const r = createDnsResolver({
      servers: [dns.address],
      now: () => now,
      defaultTtlMs: 1000,
      negativeTtlMs: 500,
    });
    await r('long.mailroom.test', 'TXT');
    await assert.rejects(r('missing.mailroom.test', 'TXT'), { code: 'ENOTFOUND' });
    assert.equal(r.cacheSize(), 2);
    await dns.close(); // every answer from here on must come from the cache
    await r('long.mailroom.test', 'TXT');
    await assert.rejects(r('missing.mailroom.test', 'TXT'), { code: 'ENOTFOUND' });
    now = 600;
    await assert.rejects(
      r('missing.mailroom.test', 'TXT'),
      (e: NodeJS.ErrnoException) => e.code !== 'ENOTFOUND',
    );
    now = 1200;
    await assert.rejects(r('long.mailroom.test', 'TXT'));
    dns = await startDnsmasq();
  });

  it('does not cache a timeout: the next check asks again', async () => {
    const silent = await startSilentDns();
    try {
      const r = createDnsResolver({ servers: [silent.address], timeoutMs: 100 });
      await assert.rejects(r('x.mailroom.test', 'TXT'), { code: 'ETIMEOUT' });
      assert.equal(r.cacheSize(), 0);
    } finally {
      await silent.close();
    }
  });
});
