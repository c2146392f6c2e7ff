/**
 * Starts sidecars for tests, in this process or as a child process (for SIGKILL), and talks to
 * their HTTP API.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ActiveConfig } from '../../src/sidecar/config.ts';
import { type Sidecar, type SidecarOptions, startSidecar } from '../../src/sidecar/sidecar.ts';
import type { MessageView } from '../../src/sidecar/types.ts';
import { memoryLogger } from './sidecar-upstream.ts';

/** Starts an in-process sidecar on free loopback ports, with a memory logger. */
export async function testSidecar(
  dataDir: string,
  config: ActiveConfig | { path: string },
  extra: Partial<SidecarOptions> = {},
): Promise<Sidecar & { lines: string[] }> {
  const log = memoryLogger();
  const sc = await startSidecar({
    dataDir,
    config: 'path' in config ? { kind: 'file', path: config.path, ...{} } : { kind: 'static', config },
    logger: log.logger,
    smtpListen: { host: '127.0.0.1', port: 0 },
    httpListen: { host: '127.0.0.1', port: 0 },
    retryBaseMs: 50,
    configPollMs: 200,
    ...extra,
  });
  return Object.assign(sc, { lines: log.lines });
}

/** POSTs a message; returns status and JSON body. */
export async function post(
  httpPort: number,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** GETs one message. */
export async function getMessage(httpPort: number, id: string): Promise<MessageView> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/messages/${id}`);
  assert.equal(res.status, 200, `GET message ${id}`);
  return (await res.json()) as MessageView;
}

/** A message of the simplest valid shape. */
export const simple = (n: number | string, to = 'user@example.org') => ({
  to,
  subject: `message ${n}`,
  text: `body ${n}`,
});

/** `mailroom sidecar` flags for a queue in `dataDir` delivering to a cleartext upstream on loopback. */
export const sidecarArgs = (dataDir: string, upstreamPort: number, extra: string[] = []): string[] => [
  '--data-dir',
  dataDir,
  '--uri',
  `smtp://127.0.0.1:${upstreamPort}/?disable_starttls=true`,
  '--from',
  'no-reply@example.com',
  ...extra,
];

/** A TCP port that was free a moment ago (for a peer that starts later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

// MAILROOM_CLI: another entry point, e.g. the compiled dist/cli/main.js that benches measure (read at
// spawn time: a bench sets it after building).
const cli = () => process.env.MAILROOM_CLI ?? fileURLToPath(new URL('./sidecar-cli.ts', import.meta.url));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A sidecar running as a child process. */
export interface SidecarProcess {
  child: ChildProcess;
  smtpPort: number;
  httpPort: number;
  output: string[];
  /** Sends a signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns `mailroom sidecar ARGS` (ports 0 unless given) and waits until it listens. `start` is what
 * node runs before `sidecar`: the CLI script by default, or e.g. `--snapshot-blob BLOB` as the
 * webhook injects it.
 */
export async function spawnSidecar(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  start: string[] = [cli()],
): Promise<SidecarProcess> {
  const child = spawn(
    process.execPath,
    [...start, 'sidecar', '--smtp-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => children.delete(child));
  const output: string[] = [];
  const ports = await new Promise<{ smtpPort: number; httpPort: number }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`sidecar did not start:\n${output.join('')}`)), 15_000);
    child.stderr?.on('data', (d: Buffer) => output.push(String(d)));
    child.stdout?.on('data', (d: Buffer) => {
      buf += String(d);
      output.push(String(d));
      const m = /"smtpPort":(\d+),"httpPort":(\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve({ smtpPort: Number(m[1]), httpPort: Number(m[2]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sidecar exited with ${code}:\n${output.join('')}`));
    });
  });
  return {
    child,
    ...ports,
    output,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
