/**
 * A real DNS server on loopback (Debian's dnsmasq), so name-resolution tests never leave the
 * machine: names under `mailroom.test` are local (NXDOMAIN unless given as host records).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestDns {
  /** `127.0.0.1:port`, for `dnsServers` / `--dns-server`. */
  address: string;
  close(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const { port } = sock.address();
  sock.close();
  return port;
}

/** Starts dnsmasq; `hosts` maps names to IPv4 addresses it answers with. */
export async function startDnsmasq(hosts: Record<string, string> = {}): Promise<TestDns> {
  const port = await freeUdpPort();
  const records = { 'ready.mailroom.test': '127.0.0.1', ...hosts };
  const child: ChildProcess = spawn(
    '/usr/sbin/dnsmasq',
    [
      '--keep-in-foreground',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--pid-file=',
      '--user=root',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${port}`,
      '--local=/mailroom.test/',
      ...Object.entries(records).map(([name, ip]) => `--host-record=${name},${ip}`),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const address = `127.0.0.1:${port}`;
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([address]);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${stderr}`);
    try {
      await resolver.resolve4('ready.mailroom.test');
      break;
    } catch (err) {
      if (i > 50) throw new Error(`dnsmasq did not answer on ${address}: ${String(err)} ${stderr}`);
      await sleep(100);
    }
  }
  return {
    address,
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}
