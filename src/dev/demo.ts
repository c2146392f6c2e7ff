/**
 * `mailroom dev`: the whole system on one machine. A real control plane, the CRDs, a local mail sink
 * (STARTTLS with a CA made at start, AUTH), the controller and a sidecar as separate processes,
 * three example senders (one working, one with a wrong password, one with a bad URI), and a test
 * message through the sidecar to the sink.
 *
 * With `check`, it verifies what it shows and stops; otherwise it keeps running until Ctrl-C.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { renderedSecretName } from '../api/rendered-config.ts';
import { type ControlPlane, installCRDs, startControlPlane } from '../controlplane/index.ts';
import { type MailSink, startMailSink } from './mail-sink.ts';
import { DEMO_NAMESPACE, DEMO_SENDERS, demoManifests } from './manifests.ts';
import { createProgress } from './progress.ts';
import { mountSecret, type SecretMount } from './secret-mount.ts';
import { freePort, waitFor, waitHttp } from './wait.ts';

const run = promisify(execFile);
const CRDS_DIR = fileURLToPath(new URL('../../crds', import.meta.url));

export interface DemoOptions {
  /** Verify, print the verdict, stop everything and resolve with the exit code. */
  check: boolean;
  /** Keep the demo folder (logs, kubeconfig, mail) after stopping. */
  keep: boolean;
}

interface Running {
  dir: string;
  cp?: ControlPlane;
  sink?: MailSink;
  children: ChildProcess[];
  mount?: SecretMount;
}

/** Runs the demo; resolves with the process exit code. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const progress = createProgress(7);
  const state: Running = { dir: await mkdtemp(join(tmpdir(), 'mailroom-dev-')), children: [] };
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= shutdown(state, opts.keep));
  const onSignal = () => {
    progress.info('\nstopping…');
    void stop().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const kubeconfig = await progress.step(
      'Starting the local control plane (etcd + kube-apiserver)',
      async (note) => {
        note('first run builds the binaries from Go modules: several minutes on 2 cores, then cached');
        state.cp = await startControlPlane({ handleSignals: false });
        await installCRDs(state.cp.kubeconfigPath, CRDS_DIR);
        return state.cp.kubeconfigPath;
      },
    );
    const kubectl = (...args: string[]) =>
      run('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 120_000 });

    const sink = await progress.step('Starting the local mail sink (STARTTLS, AUTH)', async () => {
      state.sink = await startMailSink({ maildir: join(state.dir, 'mail') });
      return state.sink;
    });

    const controllerHealth = await freePort();
    await progress.step('Starting the controller', async () => {
      state.children.push(
        spawnMailroom(state.dir, 'controller', [
          'controller',
          '--kubeconfig',
          kubeconfig,
          '--health-listen',
          `127.0.0.1:${controllerHealth}`,
          '--metrics-listen',
          '127.0.0.1:0',
          // The example domain has no public DNS; asking the system resolver about it would only
          // say so, slowly. `mailroom probe --deliverability` shows the check on a real domain.
          '--no-deliverability',
        ]),
      );
      await waitHttp(`http://127.0.0.1:${controllerHealth}/readyz`, 60_000, state.children);
    });

    await progress.step('Applying example EmailSenders', async () => {
      const file = join(state.dir, 'demo.yaml');
      await writeFile(file, demoManifests(sink), { mode: 0o600 });
      await kubectl('apply', '-f', file);
    });

    const statuses = await progress.step('Waiting for the controller to probe them', async (note) => {
      await kubectl(
        'wait',
        '-n',
        DEMO_NAMESPACE,
        '--for=condition=Ready',
        `emailsender/${DEMO_SENDERS.working}`,
        '--timeout=90s',
      );
      return waitFor(async () => {
        const got = await readyReasons(kubectl);
        note(
          Object.entries(got)
            .map(([n, r]) => `${n}: ${r}`)
            .join(', '),
        );
        return Object.keys(got).length === 3 && Object.values(got).every((r) => r !== 'Unknown')
          ? got
          : undefined;
      }, 90_000);
    });

    const smtpPort = await freePort();
    const httpPort = await freePort();
    await progress.step('Starting the sidecar sender with the published config', async () => {
      const configDir = join(state.dir, 'sender-config');
      state.mount = mountSecret(
        kubeConfigFrom(kubeconfig),
        DEMO_NAMESPACE,
        renderedSecretName(DEMO_SENDERS.working),
        configDir,
      );
      await state.mount.ready;
      state.children.push(
        spawnMailroom(state.dir, 'sidecar', [
          'sidecar',
          '--config',
          join(configDir, 'config.json'),
          '--data-dir',
          join(state.dir, 'sidecar-data'),
          '--smtp-listen',
          `127.0.0.1:${smtpPort}`,
          '--http-listen',
          `127.0.0.1:${httpPort}`,
        ]),
      );
      await waitHttp(`http://127.0.0.1:${httpPort}/readyz`, 60_000, state.children);
    });

    const delivered = await progress.step('Sending a test message through the sidecar', async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          to: ['alice@demo.mailroom.test'],
          subject: 'Mailroom demo: verify your email',
          text: 'It works.',
        }),
      });
      if (res.status !== 202)
        throw new Error(`POST /v1/messages answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      return waitFor(async () => {
        const m = (await (await fetch(`http://127.0.0.1:${httpPort}/v1/messages/${id}`)).json()) as {
          state: string;
        };
        return m.state === 'sent' ? { id, state: m.state } : undefined;
      }, 60_000);
    });

    const table = (await kubectl('get', 'emailsenders', '-n', DEMO_NAMESPACE, '-o', 'wide')).stdout;
    progress.info(`
Mailroom is running on a local control plane.

  kubectl --kubeconfig ${kubeconfig} get emailsenders -A -o wide

${table}
  Test message ${delivered.id}: ${delivered.state}; delivered mail is in ${sink.maildir}
  Delivery log: http://127.0.0.1:${httpPort}/    (API: http://127.0.0.1:${httpPort}/v1/messages)
  Apps send with: smtp://127.0.0.1:${smtpPort}/?disable_starttls=true
  Logs: ${state.dir}/*.log
`);
    if (opts.check) return verify(statuses, delivered.state, sink, progress.info);
    progress.info('Press Ctrl-C to stop everything.');
    await new Promise(() => {});
    return 0;
  } catch (err) {
    progress.info(
      `the demo failed: ${err instanceof Error ? err.message : String(err)}\n(logs in ${state.dir})`,
    );
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}

function verify(
  reasons: Record<string, string>,
  messageState: string,
  sink: MailSink,
  info: (t: string) => void,
): number {
  const checks: Array<[string, boolean]> = [
    [`${DEMO_SENDERS.working} is Ready (Verified)`, reasons[DEMO_SENDERS.working] === 'True/Verified'],
    [
      `${DEMO_SENDERS.wrongPassword} is not Ready: AuthenticationFailed`,
      reasons[DEMO_SENDERS.wrongPassword] === 'False/AuthenticationFailed',
    ],
    [`${DEMO_SENDERS.badUri} is not Ready: InvalidURI`, reasons[DEMO_SENDERS.badUri] === 'False/InvalidURI'],
    ['the test message was sent', messageState === 'sent'],
    [
      'the mail sink received it',
      sink.received.some((m) => m.subject === 'Mailroom demo: verify your email'),
    ],
  ];
  for (const [label, ok] of checks) info(`${ok ? 'PASS' : 'FAIL'} ${label}`);
  const failed = checks.filter(([, ok]) => !ok).length;
  info(`${checks.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

async function readyReasons(
  kubectl: (...args: string[]) => Promise<{ stdout: string }>,
): Promise<Record<string, string>> {
  const { stdout } = await kubectl(
    'get',
    'emailsenders',
    '-n',
    DEMO_NAMESPACE,
    '-o',
    'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}{"\\n"}{end}',
  );
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [name, value] = line.split('=');
    if (name && value && value !== '/') out[name] = value.startsWith('Unknown') ? 'Unknown' : value;
  }
  return out;
}

function kubeConfigFrom(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Runs `mailroom <args>` as a child process (the same entry point as this one), logging to a file. */
function spawnMailroom(dir: string, name: string, args: string[]): ChildProcess {
  const log = createWriteStream(join(dir, `${name}.log`));
  const child = spawn(process.execPath, [process.argv[1]!, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

async function shutdown(state: Running, keep: boolean): Promise<void> {
  state.mount?.stop();
  await Promise.all(
    state.children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await once(c, 'exit');
      clearTimeout(timer);
    }),
  );
  await state.sink?.close();
  await state.cp?.stop();
  if (!keep) await rm(state.dir, { recursive: true, force: true });
  else await mkdir(state.dir, { recursive: true });
}
