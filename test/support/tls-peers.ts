/**
 * TLS peers with the faults real servers have, as processes on loopback: `openssl s_server` (TLS only,
 * no SMTP: enough for faults that end the handshake) and a scripted SMTP server on Python's ssl
 * (`tls_smtp_server.py`, for STARTTLS and for faults that show after the handshake).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyPair } from '../../src/runtime/pki.ts';
import { closedPort } from './smtp-servers.ts';

const SCRIPT = fileURLToPath(new URL('./tls_smtp_server.py', import.meta.url));

export interface TlsPeer {
  port: number;
  /** What the peer printed (its errors, for a failing test's message). */
  output(): string;
  close(): Promise<void>;
}

async function files(
  tls: KeyPair,
  ca?: string,
): Promise<{ dir: string; cert: string; key: string; ca: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-tlspeer-'));
  const paths = { dir, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
  await writeFile(paths.cert, tls.cert);
  await writeFile(paths.key, tls.key);
  if (ca) await writeFile(paths.ca, ca);
  return paths;
}

async function waitForPort(port: number, child: ChildProcess, out: () => string): Promise<void> {
  const until = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`TLS peer exited with ${child.exitCode}: ${out()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`TLS peer not listening in 15 s: ${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(command: string, args: (port: number) => string[], dir: string): Promise<TlsPeer> {
  const port = await closedPort();
  const child = spawn(command, args(port), { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  await waitForPort(port, child, () => out);
  return {
    port,
    output: () => out,
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `openssl s_server` on 127.0.0.1 with extra flags (e.g. `-tls1`, `-cipher …`, `-Verify 1`). */
export async function startOpensslServer(tls: KeyPair, flags: string[], ca?: string): Promise<TlsPeer> {
  const f = await files(tls, ca);
  return start(
    '/usr/bin/openssl',
    (port) => [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      f.cert,
      '-key',
      f.key,
      '-naccept',
      '100',
      '-quiet',
      ...(ca ? ['-CAfile', f.ca] : []),
      ...flags,
    ],
    f.dir,
  );
}

export interface ScriptedTlsOptions {
  mode: 'starttls' | 'implicit';
  tls: KeyPair;
  /** Python `ssl.TLSVersion` names: `TLSv1`, `TLSv1_1`, `TLSv1_2`, `TLSv1_3`. */
  tlsMin?: string;
  tlsMax?: string;
  ciphers?: string;
  /** Require a client certificate from this CA. */
  clientCa?: string;
  /** Answer STARTTLS with this line (e.g. `454 4.7.0 TLS not available due to local problem`). */
  starttlsReply?: string;
}

/** The scripted SMTP server on Python's ssl (Debian's /usr/bin/python3). */
export async function startScriptedTls(o: ScriptedTlsOptions): Promise<TlsPeer> {
  const f = await files(o.tls, o.clientCa);
  return start(
    '/usr/bin/python3',
    (port) => [
      SCRIPT,
      '--port',
      String(port),
      '--mode',
      o.mode,
      '--cert',
      f.cert,
      '--key',
      f.key,
      ...(o.tlsMin ? ['--tls-min', o.tlsMin] : []),
      ...(o.tlsMax ? ['--tls-max', o.tlsMax] : []),
      ...(o.ciphers ? ['--ciphers', o.ciphers] : []),
      ...(o.clientCa ? ['--client-ca', f.ca] : []),
      ...(o.starttlsReply ? ['--starttls-reply', o.starttlsReply] : []),
    ],
    f.dir,
  );
}
