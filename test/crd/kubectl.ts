/**
 * Runs the real `kubectl` against a test control plane, with optional stdin, and never throws on
 * a non-zero exit: tests assert on what a user would see.
 *
 * @module
 */
import { type CommandResult, runCommand } from '../support/run-command.ts';

/** What one kubectl run printed and how it ended. */
export type KubectlResult = CommandResult;

/** Runs `kubectl --kubeconfig <kubeconfig> …args`, feeding `input` on stdin when given. */
export function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<KubectlResult> {
  return runCommand('kubectl', ['--kubeconfig', kubeconfig, ...args], input === undefined ? {} : { input });
}

/** Like {@link kubectl}, but throws with stderr when the exit code is not 0. */
export async function kubectlOk(
  kubeconfig: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const r = await kubectl(kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
