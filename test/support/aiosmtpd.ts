/**
 * Starts the outside SMTP peer (aiosmtpd, from Debian's python3-aiosmtpd, `aiosmtpd_server.py`) as
 * a process on loopback: cleartext, STARTTLS or implicit TLS, with AUTH and greylisting on demand.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyPair } from '../../src/runtime/pki.ts';
import { closedPort } from './smtp-servers.ts';

const SCRIPT = fileURLToPath(new URL('./aiosmtpd_server.py', import.meta.url));

export interface OutsidePeer {
  port: number;
  /** One entry per message taken: its Message-ID, the recipients it was taken for, its size. */
  messages: Array<{ messageId: string; rcpts: string[]; bytes: number }>;
  close(): Promise<void>;
}

export interface AiosmtpdOptions {
  /** Default `plain` (no TLS); the TLS modes need `tls`. */
  mode?: 'plain' | 'starttls' | 'implicit';
  tls?: KeyPair;
  /** With `password`: AUTH required with exactly these credentials. */
  user?: string;
  password?: string;
  /** Addresses whose first RCPT TO is answered `451 4.7.1` (greylisting). */
  greylist?: string[];
}

/** Starts aiosmtpd on a free loopback port; resolves once it accepts connections. */
export async function startAiosmtpd(opts: AiosmtpdOptions = {}): Promise<OutsidePeer> {
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-aiosmtpd-'));
  const args = ['--mode', opts.mode ?? 'plain'];
  if (opts.tls) {
    await writeFile(join(dir, 'cert.pem'), opts.tls.cert);
    await writeFile(join(dir, 'key.pem'), opts.tls.key);
    args.push('--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'));
  }
  if (opts.user !== undefined && opts.password !== undefined) {
    // The password goes in a file, not on the command line (visible in ps).
    await writeFile(join(dir, 'password'), opts.password);
    args.push('--user', opts.user, '--password-file', join(dir, 'password'));
  }
  if (opts.greylist?.length) args.push('--greylist', opts.greylist.join(','));
  const port = await closedPort();
  const child: ChildProcess = spawn('/usr/bin/python3', [SCRIPT, '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: OutsidePeer['messages'] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'READY') resolve();
        const m = /^MESSAGE (\S+) (\S*) (\d+)$/.exec(line);
        if (m)
          messages.push({ messageId: m[1]!, rcpts: m[2]!.split(',').filter(Boolean), bytes: Number(m[3]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`aiosmtpd exited with ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`aiosmtpd not ready in 15 s: ${stderr}`)), 15_000).unref();
  });
  return {
    port,
    messages,
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
