/**
 * `mailroom probe --deliverability --dns-server` as a process: the server probed and the From
 * domain's records checked through a real DNS server on loopback.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  type DeliverabilityDns,
  DOMAINS,
  SELECTOR,
  SMTP_HOST,
  startDeliverabilityDns,
} from '../support/dns-zones.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

let dns: DeliverabilityDns;
let smtp: TestSmtpServer;
let dir: string;
let keyFile: string;

before(async () => {
  dns = await startDeliverabilityDns();
  smtp = await startSmtpServer({ mode: 'plain' });
  dir = await mkdtemp(join(tmpdir(), 'mailroom-probe-deliv-'));
  keyFile = join(dir, 'dkim.pem');
  await writeFile(keyFile, dns.signingKey, { mode: 0o600 });
});
after(async () => {
  await smtp?.close();
  await dns?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the probe; resolves with stdout and the exit status. */
async function probe(domain: string, ...extra: string[]) {
  const args = [
    MAIN,
    'probe',
    `smtp://${SMTP_HOST}:${smtp.port}/?disable_starttls=true`,
    '--no-auth',
    '--from',
    `no-reply@${domain}`,
    '--deliverability',
    '--dns-server',
    dns.address,
    ...extra,
  ];
  try {
    const { stdout } = await run(process.execPath, args);
    return { stdout, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout + e.stderr, code: e.code };
  }
}

describe('mailroom probe --deliverability', () => {
  it('aligned: the server and the domain both pass (exit 0), the server name resolved through --dns-server', async () => {
    const r = await probe(
      DOMAINS.aligned,
      '--dkim-selector',
      SELECTOR,
      '--dkim-key-file',
      keyFile,
      '--output',
      'json',
    );
    assert.equal(r.code, 0, r.stdout);
    const out = JSON.parse(r.stdout);
    assert.equal(out.reason, 'Verified');
    assert.equal(out.deliverability.reason, 'Aligned');
    assert.equal(out.deliverability.dkim.result, 'pass');
  });

  it('no DMARC: exit 1 and the text names the record to publish', async () => {
    const r = await probe(DOMAINS.noDmarc);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /✔ Verified/);
    assert.match(r.stdout, /✘ Deliverable NoDMARCRecord/);
    assert.match(
      r.stdout,
      new RegExp(`publish: TXT _dmarc\\.${DOMAINS.noDmarc.replaceAll('.', '\\.')} "v=DMARC1; p=quarantine`),
    );
  });

  it('--deliverability without --from is invalid input (exit 2)', async () => {
    const { code, stdout } = await run(process.execPath, [
      MAIN,
      'probe',
      'smtp://127.0.0.1:1/',
      '--deliverability',
    ]).then(
      (x) => ({ ...x, code: 0 }),
      (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stderr, code: e.code }),
    );
    assert.equal(code, 2);
    assert.match(stdout, /--deliverability needs --from/);
  });
});
