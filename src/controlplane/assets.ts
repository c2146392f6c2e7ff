/**
 * Finds the kube-apiserver and etcd binaries through `test/controlplane/assets.sh`, which honours
 * `KUBEBUILDER_ASSETS` and otherwise builds them once and caches them.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository's asset script, found from this file so any cwd works. */
export const assetsScript: string = fileURLToPath(
  new URL('../../test/controlplane/assets.sh', import.meta.url),
);

let found: Promise<string> | undefined;

/**
 * Returns the folder holding `kube-apiserver` and `etcd`.
 *
 * The script's progress goes to this process's stderr: a cold build takes many minutes and a
 * silent wait that long looks like a hang.
 */
export function findAssets(): Promise<string> {
  // Memoized: tests start many control planes per process, and the answer cannot change meanwhile.
  found ??= runScript().catch((err: unknown) => {
    found = undefined;
    throw err;
  });
  return found;
}

async function runScript(): Promise<string> {
  const child = spawn('bash', [assetsScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const dir = out.trim();
  if (code !== 0 || dir === '') {
    throw new Error(`${assetsScript} failed (exit ${code}); see its messages above`);
  }
  return dir;
}
