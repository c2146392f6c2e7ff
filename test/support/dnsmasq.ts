/**
 * A real DNS server on loopback (Debian's dnsmasq), so name-resolution tests never leave the
 * machine: names under `mailroom.test` are local (NXDOMAIN unless given as host records).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestDns {
  /** `127.0.0.1:port`, for `dnsServers` / `--dns-server`. */
  address: string;
  close(): Promise<void>;
}

/** A port free for UDP and for TCP on 127.0.0.1 a moment ago (dnsmasq listens on both). */
async function freeDnsPort(): Promise<number> {
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const { port } = sock.address();
  const tcp = createServer();
  const tcpFree = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (tcpFree) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  sock.close();
  return tcpFree ? port : freeDnsPort();
}

/**
 * Writes TXT records as a dnsmasq config file: only its config parser honours quotes, so values
 * with commas (DMARC `rua=a,b`) survive; values over 255 bytes are split into character-strings
 * as a DNS console would (receivers join them).
 */
function txtConfig(txt: Record<string, string | string[]>): string {
  const lines: string[] = [];
  for (const [name, values] of Object.entries(txt)) {
    for (const value of Array.isArray(values) ? values : [values]) {
      if (/["\\\n]/.test(value))
        throw new Error(`TXT value for ${name} must not hold quotes, backslashes or newlines`);
      const chunks = value.match(/.{1,255}/gs) ?? [''];
      lines.push(`txt-record=${name},${chunks.map((c) => `"${c}"`).join(',')}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Records beyond host records, for deliverability tests. */
export interface DnsmasqZones {
  /** Names to the TXT record (or records) served there (SPF, DKIM, DMARC). */
  txt?: Record<string, string | string[]>;
  /**
   * More domains answered locally (NXDOMAIN when unknown) instead of refused: a DMARC tree walk
   * asks parents such as `_dmarc.test`, which a real resolver answers with NXDOMAIN.
   */
  local?: string[];
}

/**
 * Starts dnsmasq; `hosts` maps names to IPv4 addresses it answers with; `zones` adds TXT records
 * and local domains.
 */
export async function startDnsmasq(
  hosts: Record<string, string> = {},
  zones: DnsmasqZones = {},
): Promise<TestDns> {
  // Another process may take the port between the check and dnsmasq's bind: try a new one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freeDnsPort(), hosts, zones);
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test(String(err))) throw err;
    }
  }
}

async function startOn(port: number, hosts: Record<string, string>, zones: DnsmasqZones): Promise<TestDns> {
  const records = { 'ready.mailroom.test': '127.0.0.1', ...hosts };
  const confDir = mkdtempSync(join(tmpdir(), 'mailroom-dnsmasq-'));
  const confFile = join(confDir, 'txt.conf');
  writeFileSync(confFile, txtConfig(zones.txt ?? {}));
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
      ...(zones.local ?? []).map((d) => `--local=/${d}/`),
      ...Object.entries(records).map(([name, ip]) => `--host-record=${name},${ip}`),
      `--conf-file=${confFile}`,
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
    if (child.exitCode !== null) {
      rmSync(confDir, { recursive: true, force: true });
      throw new Error(`dnsmasq exited: ${stderr}`);
    }
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
      rmSync(confDir, { recursive: true, force: true });
    },
  };
}
