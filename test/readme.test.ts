/**
 * Every command the README shows is run here, as a user would run it (bash, in a checkout, with
 * KUBECONFIG pointing at a real control plane), or is named below as run by another test. A command
 * added to the README without a way to run it fails this test; so does a command that stops working.
 *
 * Placeholders a reader replaces (the provider host, the password) are replaced with a local SMTP
 * server's, the only change made to a command.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ControlPlane, startControlPlane } from '../src/controlplane/index.ts';
import { freePort, waitHttp } from '../src/dev/wait.ts';
import { createTestPki, startSmtpServer, type TestSmtpServer } from './support/smtp-servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** Commands run by another test or by CI itself, with the file that runs them. */
const RUN_ELSEWHERE: Record<string, { file: string; runs: string }> = {
  'npm ci && npm start': { file: 'test/dev/demo.test.ts', runs: "'dev', '--check'" },
  'npm ci && npm test': { file: '.ci/run', runs: 'npm test' },
};

interface Block {
  lang: string;
  lines: string[];
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(re))
    blocks.push({ lang: m[1] ?? '', lines: m[2]!.split('\n').filter(Boolean) });
  return blocks;
}

/** Commands: every line of a `sh` block, every `$ ` line of a `console` block (comments dropped). */
function commands(blocks: Block[]): string[] {
  const out: string[] = [];
  for (const b of blocks) {
    if (b.lang === 'sh') out.push(...b.lines);
    if (b.lang === 'console') out.push(...b.lines.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2)));
  }
  return out.map((c) => c.replace(/\s+#.*$/, '').trim());
}

describe('README commands', () => {
  let readme: string;
  let cp: ControlPlane;
  let smtp: TestSmtpServer;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let substitute: (text: string) => string;
  const children: ChildProcess[] = [];
  const stderr = { controller: '', sidecar: '' };
  const PASSWORD = 'readme-Pass/word';

  before(async () => {
    readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const pki = await createTestPki();
    [cp, smtp] = await Promise.all([
      startControlPlane(),
      startSmtpServer({ tls: pki.valid, auth: { user: 'apikey', pass: PASSWORD } }),
    ]);
    // A checkout-like folder, so files the README creates (sender.yaml) stay out of the repository.
    work = await mkdtemp(join(tmpdir(), 'mailroom-readme-'));
    for (const entry of ['package.json', 'node_modules', 'src', 'deploy', 'crds', 'tsconfig.json']) {
      await symlink(join(ROOT, entry), join(work, entry));
    }
    await writeFile(join(work, 'ca.pem'), pki.ca.cert);
    // `mailroom` as the installed package provides it.
    await writeFile(
      join(work, 'mailroom'),
      `#!/bin/sh\nexec "${process.execPath}" "${ROOT}src/cli/main.ts" "$@"\n`,
    );
    await chmod(join(work, 'mailroom'), 0o755);
    const apiPort = await freePort();
    env = {
      ...process.env,
      KUBECONFIG: cp.kubeconfigPath,
      NODE_EXTRA_CA_CERTS: join(work, 'ca.pem'),
      MAILROOM_API_URL: `http://127.0.0.1:${apiPort}`,
      PATH: `${work}:${process.env.PATH}`,
    };
    substitute = (text) =>
      text
        .replaceAll('smtp.example.com:587', `localhost:${smtp.port}`)
        .replaceAll('YOUR-PASSWORD', encodeURIComponent(PASSWORD))
        .replaceAll('SECRET', encodeURIComponent(PASSWORD));
    // The controller and a sidecar, as they run in a cluster (here: outside one).
    const health = await freePort();
    const controller = spawn(
      process.execPath,
      [
        'src/cli/main.ts',
        'controller',
        '--health-listen',
        `127.0.0.1:${health}`,
        '--metrics-listen',
        '127.0.0.1:0',
        '--no-deliverability',
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const sidecar = spawn(
      process.execPath,
      [
        'src/cli/main.ts',
        'sidecar',
        '--uri',
        `smtp://apikey:${encodeURIComponent(PASSWORD)}@localhost:${smtp.port}/`,
        '--from',
        'no-reply@example.com',
        '--data-dir',
        join(work, 'sidecar-data'),
        '--smtp-listen',
        `127.0.0.1:${await freePort()}`,
        '--http-listen',
        `127.0.0.1:${apiPort}`,
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(controller, sidecar);
    for (const [name, child] of [
      ['controller', controller],
      ['sidecar', sidecar],
    ] as const) {
      child.stderr?.on('data', (c: Buffer) => {
        stderr[name] += c.toString();
      });
      child.once('exit', (code) => {
        if (code) process.stderr.write(`${name} exited with ${code}:\n${stderr[name].slice(-2000)}\n`);
      });
    }
    await Promise.all([
      // The CRD comes with the README's own `kubectl apply -k deploy/`: until then the controller is live, not ready.
      waitHttp(`http://127.0.0.1:${health}/healthz`, 60_000, children),
      waitHttp(`${env.MAILROOM_API_URL}/readyz`, 60_000, children),
    ]);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
    await Promise.all([smtp?.close(), cp?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the YAML the README applies is the README’s own', async () => {
    const sender = codeBlocks(readme).find(
      (b) => b.lang === 'yaml' && b.lines.some((l) => l.includes('kind: EmailSender')),
    );
    assert.ok(sender, 'README shows the sender manifest');
    await writeFile(join(work, 'sender.yaml'), substitute(sender.lines.join('\n')));
  });

  it('runs every command, in order, and each succeeds', { timeout: 300_000 }, async () => {
    const all = commands(codeBlocks(readme));
    assert.ok(all.length >= 8, `only ${all.length} commands found`);
    for (const command of all) {
      const elsewhere = RUN_ELSEWHERE[command];
      if (elsewhere) {
        const source = await readFile(join(ROOT, elsewhere.file), 'utf8');
        assert.ok(source.includes(elsewhere.runs), `${elsewhere.file} no longer runs "${command}"`);
        continue;
      }
      const line = substitute(command);
      const result = await run(
        'bash',
        ['-c', line.startsWith('export ') ? `${line} && env >/dev/null` : line],
        {
          cwd: work,
          env,
          timeout: 120_000,
        },
      ).catch((err: { code: number; stdout: string; stderr: string }) => err);
      assert.equal(
        'code' in result ? result.code : 0,
        0,
        `README command failed: ${command}\n${result.stdout}${result.stderr}`,
      );
      if (line.startsWith('export ')) {
        // The README's next command relies on this variable: carry it over as the shell would.
        const [, name, value] = /^export (\w+)='([^']*)'/.exec(line) ?? [];
        assert.ok(name && value);
        env[name] = value;
      }
    }
  });

  it('what the README says those commands print is what they print', async () => {
    const { stdout: probe } = await run(
      'bash',
      ['-c', 'npm run --silent mailroom -- probe --check-sender --from no-reply@example.com'],
      { cwd: work, env },
    );
    assert.match(
      probe,
      /^✔ Verified: STARTTLS \(TLSv1\.3\) to localhost:\d+; certificate valid until \d{4}-\d\d-\d\d; AUTH PLAIN accepted; sender no-reply@example\.com accepted; \d+ ms$/m,
    );
    const { stdout: transcript } = await run(
      'bash',
      ['-c', 'npm run --silent mailroom -- probe --transcript'],
      {
        cwd: work,
        env,
      },
    );
    for (const line of [
      /^ {2}\* TLS established: TLSv1\.3, TLS_AES_256_GCM_SHA384$/m,
      /^ {2}\* certificate: subject CN=localhost .*, notAfter \d{4}-/m,
      /^ {2}C: AUTH PLAIN \*\*\*$/m,
      /^ {2}S: 235 /m,
    ])
      assert.match(transcript, line);
    assert.equal(transcript.includes(PASSWORD) || transcript.includes(encodeURIComponent(PASSWORD)), false);
    const before = smtp.received.length;
    const { stdout: sent } = await run(
      'bash',
      ['-c', 'npm run --silent mailroom -- send --sender auth/identity --to someone@example.com'],
      { cwd: work, env },
    );
    assert.match(sent, /^✔ Sent: the server accepted the message: 250 /m);
    assert.match(smtp.received.at(-1)?.data ?? '', /^From: Example Identity <no-reply@example\.com>$/m);
    assert.equal(smtp.received.length, before + 1);
    const { stdout: get } = await run('kubectl', ['get', 'emailsenders', '-n', 'auth'], { env });
    assert.match(get, /^NAME\s+READY\s+REASON\s+ENDPOINT\s+SECURITY\s+AGE$/m);
    assert.match(get, /^identity\s+True\s+Verified\s+localhost:\d+\s+StartTLS\s+/m);
  });
});
