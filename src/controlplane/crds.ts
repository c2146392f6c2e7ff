/**
 * Applies CRD manifests with the real `kubectl`, as a user would, and waits until they serve.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Applies every `*.yaml`/`*.yml` file in `dir` and waits for each CustomResourceDefinition among
 * them to be `Established`. Returns the applied objects as `kind.group/name`; an empty or missing
 * folder applies nothing.
 */
export async function installCRDs(
  kubeconfigPath: string,
  dir: string,
  timeoutMs = 60_000,
): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const files = names.filter((n) => /\.ya?ml$/.test(n)).sort();
  if (files.length === 0) return [];

  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', kubeconfigPath, ...args], { timeout: timeoutMs + 10_000 });
  // Server-side: a CRD with full descriptions can exceed the 256 KiB limit of the
  // last-applied-configuration annotation that client-side apply writes.
  const applied = await kubectl(
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=mailroom-dev',
    '-o',
    'name',
    ...files.flatMap((f) => ['-f', join(dir, f)]),
  );
  const objects = applied.stdout.split('\n').filter((l) => l !== '');
  const crds = objects.filter((o) => o.startsWith('customresourcedefinition.'));
  if (crds.length > 0) {
    await kubectl(
      'wait',
      '--for=condition=Established',
      `--timeout=${Math.ceil(timeoutMs / 1000)}s`,
      ...crds,
    );
  }
  return objects;
}
