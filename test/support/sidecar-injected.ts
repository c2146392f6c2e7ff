/**
 * The sidecar as the webhook injects it, for the tests and benches that start it as shipped: the
 * container's command (node from the startup snapshot, the image's /app/dist/ read as this
 * checkout's dist/, which `npm run build` makes), its args and its environment (NODE_OPTIONS, the
 * malloc settings); and the config file the controller renders and the kubelet mounts.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderFromFlags } from '../../src/sidecar/config.ts';
import { sidecarContainer } from '../../src/webhook/inject.ts';
import { startUpstream, tempDir, type Upstream } from './sidecar-upstream.ts';

/** The checkout's root. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** What the webhook puts in the sidecar container. */
export interface InjectedSidecar {
  /** Node's arguments before the CLI's (the snapshot blob), without `node` itself. */
  command: string[];
  /** The CLI's arguments (`sidecar …`), with the pod's paths and ports. */
  args: string[];
  /** The container's environment. */
  env: Record<string, string>;
}

/** The webhook's sidecar container, as a local process would run it. */
export function injectedSidecar(): InjectedSidecar {
  const container = sidecarContainer({ sender: 'test', image: 'mailroom' }, {});
  return {
    command: container.command!.slice(1).map((a) => a.replace('/app/dist/', join(repoRoot, 'dist/'))),
    args: container.args!,
    env: Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ''])),
  };
}

/**
 * The container's args with this run's values put in for the flags named (`--data-dir`, the
 * listeners, `--config`): the pod's paths and ports mean nothing outside it.
 */
export function withValues(args: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return args.map((a, i) => values[args[i - 1] ?? ''] ?? a);
}

/** A mounted config file: its path, and a way to rewrite it with another From (a new revision). */
export interface ConfigFile {
  path: string;
  write(from: string): void;
}

/**
 * Writes `<dir>/config.json` as the controller renders it for a plaintext upstream on loopback
 * `upstreamPort` (an unreachable one, 9, for an idle sidecar), From `from`.
 */
export function renderedConfigFile(
  dir: string,
  upstreamPort: number,
  from = 'no-reply@example.com',
): ConfigFile {
  const path = join(dir, 'config.json');
  const uri = `smtp://127.0.0.1:${upstreamPort}/?disable_starttls=true`;
  const write = (f: string) => writeFileSync(path, JSON.stringify(renderFromFlags({ uri, from: f })));
  write(from);
  return { path, write };
}

/**
 * A plaintext upstream on loopback, a temporary directory and a rendered config file in it naming
 * that upstream: what a sidecar started as injected needs. Their removal goes on `cleanups`.
 */
export async function upstreamAndConfig(
  cleanups: Array<() => unknown>,
): Promise<{ upstream: Upstream; dir: string; config: ConfigFile }> {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  return { upstream, dir: tmp.dir, config: renderedConfigFile(tmp.dir, upstream.port) };
}
