/**
 * Test tools built from the Go modules pinned in `test/tools/go.mod` (helm, the gopher-lua runner),
 * built once and cached by `test/tools/build.sh`, like the control plane.
 */
import { fileURLToPath } from 'node:url';
import { runCommand } from './run-command.ts';

const script = fileURLToPath(new URL('../tools/build.sh', import.meta.url));

/** Absolute path of the tool's binary; builds it first when the cache lacks it. */
export async function goTool(name: 'helm' | 'gopher-lua'): Promise<string> {
  const r = await runCommand('bash', [script, name]);
  if (r.code !== 0) throw new Error(`test/tools/build.sh ${name} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}
