/**
 * Runs a command as a user would from a shell: optional stdin, everything it printed, and how it
 * ended. Never throws on a non-zero exit, so tests can assert on what a user would see.
 */
import { spawn } from 'node:child_process';

/** What one run printed and how it ended. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(
  command: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'pipe', ...(opts.env ? { env: opts.env } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    // A command that exits without reading its input (lua5.4 -e …) closes the pipe first: its exit
    // code and output tell what happened, not the EPIPE of writing nothing to it.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** kubectl with a kubeconfig; throws with kubectl's own message when it fails. */
export async function kubectlOrThrow(
  kubeconfig: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const r = await runCommand(
    'kubectl',
    ['--kubeconfig', kubeconfig, ...args],
    input === undefined ? {} : { input },
  );
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
