/**
 * Mirrors a Secret into a folder exactly as the kubelet mounts a Secret volume: each version in its
 * own timestamped folder, a `..data` symlink swapped atomically to the newest, and one symlink per key
 * through `..data`. The demo runs the sidecar outside a pod, and this keeps its config reload path the
 * one it takes in a cluster.
 *
 * @module
 */
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

export interface SecretMount {
  /** Resolves once the Secret exists and was written. */
  ready: Promise<void>;
  stop(): void;
}

/** Writes one version of the Secret's data and swaps `..data` to it. */
export async function writeVersion(dir: string, data: Record<string, Buffer>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const version = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${process.hrtime.bigint() % 100000n}`;
  await mkdir(join(dir, version));
  for (const [key, value] of Object.entries(data))
    await writeFile(join(dir, version, key), value, { mode: 0o600 });
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(version, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const key of Object.keys(data)) {
    await symlink(join('..data', key), join(dir, key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  if (previous) await rm(join(dir, previous), { recursive: true, force: true });
}

/** Polls the Secret every `intervalMs` and mirrors each new resourceVersion into `dir`. */
export function mountSecret(
  kc: KubeConfig,
  namespace: string,
  name: string,
  dir: string,
  intervalMs = 1000,
): SecretMount {
  const api = kc.makeApiClient(CoreV1Api);
  let lastVersion: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const tick = async () => {
    try {
      const secret = await api.readNamespacedSecret({ name, namespace });
      const version = secret.metadata?.resourceVersion;
      if (version !== lastVersion && secret.data) {
        const data = Object.fromEntries(
          Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
        );
        await writeVersion(dir, data);
        lastVersion = version;
        markReady();
      }
    } catch {
      // Not published yet (404) or the apiserver is briefly away: the next tick tries again.
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  void tick();
  return {
    ready,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
