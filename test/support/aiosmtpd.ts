/**
 * Starts the outside SMTP peer (aiosmtpd, from Debian's python3-aiosmtpd) as a process on loopback.
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
  /** "MESSAGE from rcpts bytes" lines printed by the peer. */
  messages: string[];
  close(): Promise<void>;
}

export async function startAiosmtpd(opts: {
  mode: 'starttls' | 'implicit';
  tls: KeyPair;
  user: string;
  password: string;
}): Promise<OutsidePeer> {
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-aiosmtpd-'));
  await writeFile(join(dir, 'cert.pem'), opts.tls.cert);
  await writeFile(join(dir, 'key.pem'), opts.tls.key);
  await writeFile(join(dir, 'password'), opts.password);
  const port = await closedPort();
  const child: ChildProcess = spawn(
    '/usr/bin/python3',
    [
      SCRIPT,
      '--port',
      String(port),
      '--mode',
      opts.mode,
      '--cert',
      join(dir, 'cert.pem'),
      '--key',
      join(dir, 'key.pem'),
      '--user',
      opts.user,
      '--password-file',
      join(dir, 'password'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const messages: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'READY') resolve();
        else if (line.startsWith('MESSAGE ')) messages.push(line);
        nl = buf.indexOf('\n');
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
