/**
 * `mailroom dkim keygen` as a process: the record it prints, once published in a real DNS server,
 * verifies what its private key signs (DKIM pass, DMARC pass).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { checkDeliverability, createDnsResolver } from '../../src/deliverability/index.ts';
import { startDnsmasq } from '../support/dnsmasq.ts';

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

describe('mailroom dkim keygen', () => {
  for (const type of ['rsa']) {
    it(`prints a ${type} record that verifies the key it wrote`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mailroom-dkim-'));
      const out = join(dir, 'key.pem');
      try {
        const domain = `keygen-${type}.mailroom.test`;
        const { stdout } = await run(process.execPath, [
          MAIN,
          'dkim',
          'keygen',
          '--selector',
          's1',
          '--domain',
          domain,
          '--out',
          out,
          '--output',
          'json',
        ]);
        const printed = JSON.parse(stdout) as {
          record: { name: string; value: string };
          privateKeyFile: string;
        };
        assert.equal(printed.record.name, `s1._domainkey.${domain}`);
        assert.equal(printed.privateKeyFile, out);
        assert.equal((await stat(out)).mode & 0o777, 0o600);
        assert.doesNotMatch(stdout, /PRIVATE KEY/);
        const dns = await startDnsmasq(
          { 'smtp.mailroom.test': '127.0.0.1' },
          {
            txt: {
              [domain]: 'v=spf1 a:smtp.mailroom.test -all',
              [printed.record.name]: printed.record.value,
              [`_dmarc.${domain}`]: 'v=DMARC1; p=reject',
            },
            local: ['test'],
          },
        );
        try {
          const r = await checkDeliverability({
            from: `app@${domain}`,
            serverHost: 'smtp.mailroom.test',
            dkim: { selector: 's1', domain, privateKey: await readFile(out, 'utf8') },
            resolver: createDnsResolver({ servers: [dns.address] }),
          });
          assert.equal(r.reason, 'Aligned', r.message);
          assert.equal(r.dkim?.result, 'pass');
        } finally {
          await dns.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('without --out prints the private key once, with the TXT record and kubectl command', async () => {
    const { stdout } = await run(process.execPath, [
      MAIN,
      'dkim',
      'keygen',
      '--selector',
      'mailroom',
      '--domain',
      'example.com',
    ]);
    assert.match(stdout, /name: {2}mailroom\._domainkey\.example\.com/);
    assert.match(stdout, /value: v=DKIM1; k=rsa; p=/);
    assert.match(stdout, /-----BEGIN PRIVATE KEY-----/);
    assert.match(stdout, /kubectl create secret generic dkim-key --from-file=private\.pem=dkim\.pem/);
  });

  it('refuses a selector or domain that is not a DNS name', async () => {
    await assert.rejects(
      run(process.execPath, [MAIN, 'dkim', 'keygen', '--selector', 'a b', '--domain', 'example.com']),
      (e: { stderr: string }) => /DNS label/.test(e.stderr),
    );
  });
});
