/**
 * Probe latency against a local STARTTLS server, beside `openssl s_client -starttls smtp` connecting
 * to the same server in the same run. Both verify the certificate against the same CA and end the
 * session; the probe also does EHLO twice and AUTH, as sending will.
 *
 * Run: npm run bench:probe [-- ROUNDS]
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smtpUriSchema } from '../src/api/secret-values.ts';
import { probeUri } from '../src/smtp/probe.ts';
import { createTestPki, startSmtpServer } from '../test/support/smtp-servers.ts';

const rounds = Number(process.argv[2] ?? 50);
const pki = await createTestPki();
const server = await startSmtpServer({ tls: pki.valid, auth: { user: 'bench', pass: 'bench-pass' } });
const dir = await mkdtemp(join(tmpdir(), 'mailroom-bench-'));
await writeFile(join(dir, 'ca.pem'), pki.ca.cert);

function openssl(): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      'openssl',
      [
        's_client',
        '-quiet',
        '-starttls',
        'smtp',
        '-connect',
        `localhost:${server.port}`,
        '-servername',
        'localhost',
        '-verify_return_error',
        '-CAfile',
        join(dir, 'ca.pem'),
      ],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    child.stdin.end('QUIT\r\n');
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t) : reject(new Error(`openssl exited ${code}`)),
    );
  });
}

async function probeOnce(auth: boolean): Promise<number> {
  const t = performance.now();
  const uri = auth ? `smtp://bench:bench-pass@localhost:${server.port}/` : `smtp://localhost:${server.port}/`;
  const r = await probeUri(smtpUriSchema.parse(uri), { ca: pki.ca.cert });
  if (!r.ok) throw new Error(`probe failed: ${r.reason} ${r.message}`);
  return performance.now() - t;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p90: q(0.9), mean: xs.reduce((a, b) => a + b, 0) / xs.length };
};

// Warm up both paths (TLS contexts, JIT, page cache), then interleave so load affects both alike.
await probeOnce(true);
await openssl();
const probeTimes: number[] = [];
const probeNoAuth: number[] = [];
const opensslTimes: number[] = [];
for (let i = 0; i < rounds; i++) {
  probeTimes.push(await probeOnce(true));
  probeNoAuth.push(await probeOnce(false));
  opensslTimes.push(await openssl());
}
const p = stats(probeTimes);
const n = stats(probeNoAuth);
const o = stats(opensslTimes);
const f = (x: number) => x.toFixed(1).padStart(7);
console.log(`probe latency, local STARTTLS server, ${rounds} rounds each (ms)`);
console.log(`                                   p50      p90     mean`);
console.log(`mailroom probe (EHLO+TLS+AUTH) ${f(p.p50)}  ${f(p.p90)}  ${f(p.mean)}`);
console.log(`mailroom probe (EHLO+TLS)      ${f(n.p50)}  ${f(n.p90)}  ${f(n.mean)}`);
console.log(`openssl s_client -starttls     ${f(o.p50)}  ${f(o.p90)}  ${f(o.mean)}`);
console.log(
  `ratio probe/openssl (p50): with AUTH ${(p.p50 / o.p50).toFixed(2)}x, without ${(n.p50 / o.p50).toFixed(2)}x (target < 1.5x)`,
);
await server.close();
await rm(dir, { recursive: true, force: true });
