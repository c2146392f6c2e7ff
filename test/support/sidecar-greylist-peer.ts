/**
 * Starts the greylisting outside peer (aiosmtpd, `sidecar-greylist-peer.py`) on loopback.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from './sidecar-harness.ts';

const SCRIPT = fileURLToPath(new URL('./sidecar-greylist-peer.py', import.meta.url));

export interface GreylistPeer {
  port: number;
  /** One entry per message taken: its Message-ID and the recipients it was taken for. */
  messages: Array<{ messageId: string; rcpts: string[] }>;
  close(): Promise<void>;
}

/** Starts aiosmtpd answering 451 to the first RCPT TO of each address in `greylist`. */
export async function startGreylistPeer(greylist: string[]): Promise<GreylistPeer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    '/usr/bin/python3',
    [SCRIPT, '--port', String(port), '--greylist', greylist.join(',')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const messages: GreylistPeer['messages'] = [];
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
        const m = /^MESSAGE (\S+) (\S*)$/.exec(line);
        if (m) messages.push({ messageId: m[1]!, rcpts: m[2]!.split(',').filter(Boolean) });
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
    },
  };
}
