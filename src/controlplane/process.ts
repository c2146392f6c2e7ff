/**
 * A child process run in its own process group, with its output in a log file.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

const setpriv = '/usr/bin/setpriv';

/** How a managed process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started process; see {@link startProcess}. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles once the process has exited, however it ended. */
  readonly exited: Promise<ExitInfo>;
  running(): boolean;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<void>;
  /** SIGKILL to the whole group at once; for synchronous exit handlers. */
  killNow(): void;
  /** The last lines of the log, for error messages. */
  logTail(lines?: number): string;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Starts `command args` with stdout and stderr appended to `logFile`.
 *
 * The process leads its own group so that stopping it also stops anything it forked, and a Ctrl-C
 * in the parent's terminal reaches the parent only, which then stops it in order. Where util-linux's
 * setpriv exists the child also gets a parent-death signal, so even a SIGKILLed parent leaves
 * nothing behind.
 */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  logFile: string,
): ManagedProcess {
  const fd = openSync(logFile, 'a');
  const [file, argv] = existsSync(setpriv)
    ? [setpriv, ['--pdeathsig', 'KILL', '--', command, ...args]]
    : [command, [...args]];
  const child = spawn(file, argv, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  // Unreferenced so a forgotten stop() cannot keep the parent alive; the exit hook then kills it.
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${name} (${command})`);

  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });

  return {
    name,
    pid,
    logFile,
    exited,
    running: () => !done,
    killNow: () => killGroup(pid, 'SIGKILL'),
    async stop(graceMs) {
      if (!done) {
        // Keeps the event loop alive while we wait, despite the unref above.
        child.ref();
        killGroup(pid, 'SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        });
        await Promise.race([exited, timeout]);
        clearTimeout(timer);
      }
      // Also reaps whatever the leader left in its group.
      killGroup(pid, 'SIGKILL');
      await exited;
    },
    logTail(lines = 30) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
  };
}
