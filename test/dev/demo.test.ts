/**
 * `npm start -- --check` (mailroom dev) end to end: what the demo prints is true, and it leaves no
 * process behind.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PIDs of processes whose command line mentions `needle`, other than this test's own. */
async function processesMatching(needle: string): Promise<string[]> {
  const { stdout } = await run('ps', ['-eo', 'pid=,args=']);
  return stdout
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'))
    .map((l) => l.trim());
}

describe('mailroom dev --check', () => {
  it('shows a working sender, names the broken ones, delivers a test message and stops everything', {
    timeout: 600_000,
  }, async () => {
    const child = spawn(process.execPath, ['src/cli/main.ts', 'dev', '--check'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, out);
    assert.match(out, /PASS identity is Ready \(Verified\)/);
    assert.match(out, /PASS wrong-password is not Ready: AuthenticationFailed/);
    assert.match(out, /PASS bad-uri is not Ready: InvalidURI/);
    assert.match(out, /PASS the mail sink received it/);
    assert.match(out, /^5 passed, 0 failed$/m);
    // What it printed is what a user types next.
    assert.match(out, /kubectl --kubeconfig \S+ get emailsenders -A -o wide/);
    assert.match(out, /identity\s+True\s+Verified\s+localhost:\d+\s+StartTLS/);
    assert.match(out, /wrong-password\s+False\s+AuthenticationFailed/);
    assert.match(out, /Delivery log: http:\/\/127\.0\.0\.1:\d+\//);
    // No credential of the sink in anything printed.
    assert.doesNotMatch(out, /demo-[A-Za-z0-9_-]{12}/);
    // Nothing left running: no control plane, no controller, no sidecar from the demo folder.
    const dir = /Logs: (\S+)\/\*\.log/.exec(out)?.[1];
    assert.ok(dir, 'the demo names its folder');
    assert.deepEqual(await processesMatching(dir), []);
    // etcd and kube-apiserver run from the control plane's folder, which holds the kubeconfig.
    const kubeconfig = /kubectl --kubeconfig (\S+) get/.exec(out)?.[1];
    assert.ok(kubeconfig);
    assert.deepEqual(await processesMatching(dirname(kubeconfig)), []);
  });
});
