/**
 * Sidecar throughput, in one run, against Postfix's `smtp-sink -u nobody`:
 *
 * 1. `smtp-source` straight to the sink (the reference);
 * 2. N messages through the HTTP API, acknowledged only after commit, until all are delivered; and
 *    what was left to deliver after the last `202`, on its own (delivery without intake beside it);
 * 3. N messages through the SMTP door (sent by `smtp-source`), until all are delivered;
 *    each with the sidecar's CPU time per message (all its threads) and how busy its main thread
 *    was: below 100% a phase waits on something other than the CPU;
 * 4. p50, p99 and p99.9 of `POST /v1/messages` acceptance latency at 200 msg/s (open loop), with the
 *    1-minute load average before and after (the tail on a shared machine is mostly other processes);
 * 5. peak RSS of the sidecar process;
 * 6. max-size messages (10 MB) at both doors while the upstream stalls after DATA, on a second
 *    sidecar with the same flags and an smtp-server upstream that reads each message and does not
 *    answer: peak RSS against the heap cap of the injected NODE_OPTIONS (target: cap + 40 MB), with
 *    every acknowledged message delivered once the upstream answers again;
 * 7. start → ready (spawn until `GET /readyz` answers 200) and idle RSS (5 s after ready), of the
 *    sidecar started with the webhook's own container command (node from the startup snapshot),
 *    args (a mounted config file, the metrics listener) and environment (NODE_OPTIONS, the
 *    malloc settings), against a bare `node -e` HTTP server with the same environment that
 *    answers 200 at once; the median of 5 alternating runs.
 *
 * Run: `npm run bench:sidecar` (N=10000; `-- --messages 2000 --skip-stall --skip-start` for a quick look,
 * `-- --only-stall` for the stall alone). Every sidecar runs as the webhook injects it: built
 * (`npm run build`, dist/), started from its startup snapshot with the container's command and
 * environment; `-- --source` runs the TypeScript sources instead.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SIDECAR_NODE_OPTIONS } from '../src/webhook/constants.ts';
import { allDelivered, maxSizeBurst } from '../test/support/sidecar-bigmail.ts';
import { freePort, spawnSidecar } from '../test/support/sidecar-harness.ts';
import { injectedSidecar, renderedConfigFile, withValues } from '../test/support/sidecar-injected.ts';
import { startUpstream, tempDir } from '../test/support/sidecar-upstream.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    // What the injected sidecar runs with (the webhook sets it): a bounded V8 heap.
    'node-options': { type: 'string', default: process.env.SIDECAR_NODE_OPTIONS ?? SIDECAR_NODE_OPTIONS },
    source: { type: 'boolean', default: false },
    'skip-stall': { type: 'boolean', default: false },
    // Leaves out 7 (start → ready, idle RSS), for a quicker look at throughput and latency.
    'skip-start': { type: 'boolean', default: false },
    'only-start': { type: 'boolean', default: false },
    // Only 6 (max-size messages while the upstream stalls), for a quicker look at peak memory.
    'only-stall': { type: 'boolean', default: false },
  },
});
if (!values.source) {
  const build = spawn(process.execPath, [new URL('../scripts/build.ts', import.meta.url).pathname], {
    stdio: 'inherit',
  });
  const [code] = (await once(build, 'exit')) as [number];
  if (code !== 0) throw new Error('npm run build failed');
  process.env.MAILROOM_CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
}
/**
 * The sidecar as the webhook injects it, for every section: its container command (node from the
 * startup snapshot the build made, read from this checkout's dist/ instead of the image's
 * /app/dist/; with `--source`, the TypeScript CLI) and its environment (NODE_OPTIONS, the malloc
 * settings), `--node-options` replacing NODE_OPTIONS.
 */
const shipped = (() => {
  const { command, args, env } = injectedSidecar();
  if (values['node-options']) env.NODE_OPTIONS = values['node-options'];
  const start = values.source ? [new URL('../src/cli/main.ts', import.meta.url).pathname] : command;
  return { env, start, args };
})();
const N = Number(values.messages);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', reject);
    p.once('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

async function startSink(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('/usr/sbin/smtp-sink', ['-u', 'nobody', `127.0.0.1:${port}`, '1024'], {
    stdio: 'ignore',
  });
  await sleep(300);
  return { port, proc };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function postMessage(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/messages',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 202
            ? resolve(performance.now() - t0)
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function sentCount(port: number): Promise<number> {
  const s = (await (await fetch(`http://127.0.0.1:${port}/v1/stats`)).json()) as { counts: { sent: number } };
  return s.counts.sent;
}

async function untilSent(port: number, n: number): Promise<void> {
  while ((await sentCount(port)) < n) await sleep(20);
}

/** CPU time (user + system) of a process, or of its main thread, in ms (/proc, clock ticks of 10 ms). */
function cpuMs(pid: number, mainThread = false): number {
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** The sidecar's CPU between two marks: µs per message, and how busy its main thread was. */
function cpuRow(pid: number): (messages: number) => string {
  const [all, main, t] = [cpuMs(pid), cpuMs(pid, true), performance.now()];
  return (messages) => {
    const ms = performance.now() - t;
    return `CPU ${(((cpuMs(pid) - all) * 1000) / messages).toFixed(0)} µs/msg, main thread ${(((cpuMs(pid, true) - main) / ms) * 100).toFixed(0)}% busy`;
  };
}

function peakRss(pid: number, field = 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** BENCH_DEBUG: prints the process's RSS split every 100 ms when it reaches a new high (stderr). */
function sampleMemory(pid: number): NodeJS.Timeout {
  let high = 0;
  return setInterval(() => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const f = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;
      if (f('VmRSS') <= high) return;
      high = f('VmRSS');
      console.error(
        `rss ${f('VmRSS').toFixed(0)} anon ${f('RssAnon').toFixed(0)} file ${f('RssFile').toFixed(0)} hwm ${f('VmHWM').toFixed(0)}`,
      );
    } catch {}
  }, 100);
}

const body = (i: number) =>
  JSON.stringify({
    to: `user${i % 50}@example.org`,
    subject: `Verify your address (${i})`,
    text: `Your code is ${100000 + i}.\n`.repeat(8),
  });

const rows: Array<[string, string]> = [];

/** 1–5: throughput, latency and peak RSS of one sidecar under a burst. */
async function throughput(): Promise<void> {
  const sink = await startSink();
  const tmp = tempDir('mailroom-bench-');
  const sc = await spawnSidecar(
    [
      '--data-dir',
      tmp.dir,
      '--uri',
      `smtp://127.0.0.1:${sink.port}/?disable_starttls=true`,
      '--from',
      'no-reply@example.com',
      '--log-level',
      'info',
      // As many upstream connections as smtp-source's sessions (-s 16), so both move mail with the
      // same parallelism; the sidecar's default (4) suits a shared upstream.
      '--max-connections',
      process.env.SIDECAR_CONNECTIONS ?? '16',
    ],
    shipped.env,
    shipped.start,
  );
  try {
    // 1. Reference: smtp-source straight into the sink.
    const srcMs = await run('/usr/sbin/smtp-source', [
      '-s',
      '16',
      '-m',
      String(N),
      '-l',
      '400',
      '-f',
      'a@example.org',
      '-t',
      'b@example.org',
      `127.0.0.1:${sink.port}`,
    ]);
    const srcRate = N / (srcMs / 1000);
    rows.push(['smtp-source → sink', `${srcRate.toFixed(0)} msg/s (${N} in ${(srcMs / 1000).toFixed(2)} s)`]);

    // 2. HTTP API → queue (fsync before 202) → sink.
    const pid = sc.child.pid!;
    let cpu = cpuRow(pid);
    let t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) await postMessage(sc.httpPort, body(next++));
      }),
    );
    const acceptMs = performance.now() - t0;
    const acceptCpu = cpu(N);
    // What was left to deliver after the last 202: delivery alone, no intake beside it.
    const [tail, tailCpu, tailT0] = [N - (await sentCount(sc.httpPort)), cpuRow(pid), performance.now()];
    await untilSent(sc.httpPort, N);
    const tailMs = performance.now() - tailT0;
    const httpMs = performance.now() - t0;
    const httpRate = N / (httpMs / 1000);
    if (process.env.BENCH_DEBUG) {
      console.error('rss after HTTP', peakRss(sc.child.pid!, 'VmRSS'), peakRss(sc.child.pid!));
      console.error('cmdline', readFileSync(`/proc/${sc.child.pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
      console.error(
        'NODE_OPTIONS',
        /NODE_OPTIONS=([^\0]*)/.exec(readFileSync(`/proc/${sc.child.pid}/environ`, 'utf8'))?.[1],
      );
    }
    rows.push(['HTTP API: accepted', `${(N / (acceptMs / 1000)).toFixed(0)} msg/s (${acceptCpu})`]);
    rows.push([
      'HTTP API: delivery after the last 202',
      `${tail} in ${tailMs.toFixed(0)} ms, ${(tail / (tailMs / 1000)).toFixed(0)} msg/s (${tailCpu(Math.max(1, tail))})`,
    ]);
    rows.push([
      'HTTP API: accepted and delivered',
      `${httpRate.toFixed(0)} msg/s (${(httpRate / srcRate).toFixed(2)}× smtp-source)`,
    ]);

    // 3. SMTP door (smtp-source as the app) → queue → sink.
    cpu = cpuRow(pid);
    t0 = performance.now();
    await run('/usr/sbin/smtp-source', [
      '-s',
      '16',
      '-d',
      '-m',
      String(N),
      '-l',
      '400',
      '-f',
      'app@example.org',
      '-t',
      'b@example.org',
      `127.0.0.1:${sc.smtpPort}`,
    ]);
    const smtpAcceptMs = performance.now() - t0;
    await untilSent(sc.httpPort, 2 * N);
    const smtpMs = performance.now() - t0;
    const smtpRate = N / (smtpMs / 1000);
    rows.push(['SMTP door: accepted', `${(N / (smtpAcceptMs / 1000)).toFixed(0)} msg/s`]);
    rows.push([
      'SMTP door: accepted and delivered',
      `${smtpRate.toFixed(0)} msg/s (${(smtpRate / srcRate).toFixed(2)}× smtp-source; ${cpu(N)})`,
    ]);

    // 4. Acceptance latency at a steady rate (open loop: requests leave on schedule, not on replies).
    const lat: number[] = [];
    const total = RATE * SECONDS;
    // The machine's load over the phase: on a shared machine the tail is mostly other processes'.
    const loadBefore = loadavg()[0]!;
    t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(postMessage(sc.httpPort, body(i)).then((ms) => void lat.push(ms)));
    }
    await Promise.all(pending);
    lat.sort((x, y) => x - y);
    const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!;
    rows.push([
      `POST latency at ${RATE} msg/s`,
      `p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms, p99.9 ${pct(99.9).toFixed(2)} ms, ` +
        `max ${lat.at(-1)!.toFixed(2)} ms (load average ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)})`,
    ]);
    await untilSent(sc.httpPort, 2 * N + total);

    rows.push(['sidecar peak RSS', `${peakRss(sc.child.pid!).toFixed(0)} MB`]);
  } finally {
    await sc.kill('SIGTERM');
    sink.proc.kill('SIGTERM');
    tmp.remove();
    agent.destroy();
  }
}

/** The V8 heap cap the sidecar runs with: heap_size_limit under its NODE_OPTIONS. */
function heapCapMb(nodeOptions: string): number {
  const out = execFileSync(process.execPath, ['-p', 'require("v8").getHeapStatistics().heap_size_limit'], {
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
    encoding: 'utf8',
  });
  return Number(out) / 1024 / 1024;
}

/** 6. Max-size messages while the upstream stalls after DATA. */
async function stalled(): Promise<void> {
  const upstream = await startUpstream();
  upstream.stall(true);
  const tmp2 = tempDir('mailroom-bench-');
  const sc2 = await spawnSidecar(
    [
      '--data-dir',
      tmp2.dir,
      '--uri',
      `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`,
      '--from',
      'no-reply@example.com',
      // Stalled sends give up sooner than the default 5 min, so the bench ends in a minute or two.
      '--send-timeout',
      '5s',
      '--retry-base',
      '1s',
      '--max-backoff',
      '2s',
    ],
    shipped.env,
    shipped.start,
  );
  const sampler = process.env.BENCH_DEBUG ? sampleMemory(sc2.child.pid!) : undefined;
  try {
    const t0 = performance.now();
    const burst = maxSizeBurst({
      httpPort: sc2.httpPort,
      smtpPort: sc2.smtpPort,
      http: 4,
      smtp: 2,
      maxBytes: 10 * 1024 * 1024,
    });
    while (upstream.stalled() < 2 && performance.now() - t0 < 120_000) await sleep(200);
    upstream.stall(false);
    const { acked, tryLater } = await burst;
    while (!allDelivered(acked, upstream.received) && performance.now() - t0 < 300_000) await sleep(200);
    const delivered = allDelivered(acked, upstream.received);
    const peak = peakRss(sc2.child.pid!);
    const cap = values['node-options'] ? heapCapMb(values['node-options']) : Number.NaN;
    const alive = sc2.child.exitCode === null && sc2.child.signalCode === null;
    rows.push([
      'max-size messages, upstream stalled',
      `peak RSS ${peak.toFixed(0)} MB (heap cap ${cap.toFixed(0)} MB + ${(peak - cap).toFixed(0)} MB); ` +
        `${acked.size} accepted after ${tryLater.length} try-later answers, ${delivered ? 'all' : 'NOT all'} delivered, ` +
        `${alive ? 'process alive' : 'PROCESS DIED'}`,
    ]);
  } finally {
    if (sampler) clearInterval(sampler);
    await sc2.kill('SIGTERM');
    await upstream.close();
    tmp2.remove();
  }
}

/** How long until `url` answers 200, polling every 5 ms, and the process's RSS once idle (MB). */
async function startToReady(
  args: string[],
  url: string,
  env: Record<string, string>,
): Promise<{ readyMs: number; idleRssMb: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  try {
    let readyMs = Number.NaN;
    while (performance.now() - t0 < 30_000) {
      if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited ${child.exitCode}`);
      const ok = await fetch(url).then(
        (r) => {
          void r.body?.cancel();
          return r.status === 200;
        },
        () => false,
      );
      if (ok) {
        readyMs = performance.now() - t0;
        break;
      }
      await sleep(5);
    }
    // Idle: the start-up garbage collected, timers (retention, disk upkeep, config poll) run once.
    await sleep(5000);
    return { readyMs, idleRssMb: peakRss(child.pid!, 'VmRSS') };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** 7. Start → ready and idle RSS, as injected, against a bare `node -e` HTTP server. */
async function startAndIdle(): Promise<void> {
  // The webhook's environment is given to both processes.
  const { env, start, args } = shipped;
  const tmp = tempDir('mailroom-bench-');
  // The config as the controller renders it and the kubelet mounts it (an unreachable upstream: idle).
  const configPath = renderedConfigFile(tmp.dir, 9).path;
  const peer: Array<{ readyMs: number; idleRssMb: number }> = [];
  const sidecar: Array<{ readyMs: number; idleRssMb: number }> = [];
  try {
    for (let i = 0; i < 5; i++) {
      const port = await freePort();
      peer.push(
        await startToReady(
          ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`],
          `http://127.0.0.1:${port}/readyz`,
          env,
        ),
      );
      // The webhook's own container args, with this run's paths and free loopback ports.
      const [http, smtp, metrics] = [await freePort(), await freePort(), await freePort()];
      const dataDir = join(tmp.dir, `data-${i}`);
      mkdirSync(dataDir);
      const local = {
        '--config': configPath,
        '--data-dir': dataDir,
        '--http-listen': `127.0.0.1:${http}`,
        '--smtp-listen': `127.0.0.1:${smtp}`,
        '--metrics-listen': `127.0.0.1:${metrics}`,
      };
      sidecar.push(
        await startToReady([...start, ...withValues(args, local)], `http://127.0.0.1:${http}/readyz`, env),
      );
    }
  } finally {
    tmp.remove();
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const p = { readyMs: median(peer.map((r) => r.readyMs)), rss: median(peer.map((r) => r.idleRssMb)) };
  const s = { readyMs: median(sidecar.map((r) => r.readyMs)), rss: median(sidecar.map((r) => r.idleRssMb)) };
  rows.push([
    'sidecar start → ready',
    `${s.readyMs.toFixed(0)} ms (bare node -e HTTP server: ${p.readyMs.toFixed(0)} ms, ${(s.readyMs / p.readyMs).toFixed(1)}×)`,
  ]);
  rows.push([
    'sidecar idle RSS, as injected',
    `${s.rss.toFixed(0)} MB (bare node -e HTTP server: ${p.rss.toFixed(0)} MB, +${(s.rss - p.rss).toFixed(0)} MB)`,
  ]);
}

if (values['only-stall']) await stalled();
else {
  if (!values['skip-start']) await startAndIdle();
  if (!values['only-start']) {
    await throughput();
    if (!values['skip-stall']) await stalled();
  }
}

const width = Math.max(...rows.map(([k]) => k.length));
console.log(
  `\nMailroom sidecar bench: ${N} messages per door, ${process.versions.node}, ${(await import('node:os')).cpus().length} CPUs`,
);
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
console.log(
  '  targets: ≥1000 msg/s durable, ≥0.3× smtp-source, p99 < 10 ms, peak RSS ≤ heap cap + 40 MB (burst and max-size under a stall), idle RSS ≤ 60 MB, start → ready ≤ 300 ms',
);
