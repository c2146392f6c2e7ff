/**
 * Graceful shutdown: on the first SIGTERM or SIGINT run the cleanup (stop taking work, finish what
 * is in flight, release the lease), then exit; a second signal or a timeout exits at once.
 *
 * @module
 */
import type { Logger } from './logger.ts';

/** Options of {@link onShutdown}. */
export interface ShutdownOptions {
  /** Longest cleanup before a forced exit. Default 25 s (Kubernetes waits 30 s before SIGKILL). */
  timeoutMs?: number;
  log?: Logger;
  signals?: readonly NodeJS.Signals[];
  /** Process exit, injectable for tests. */
  exit?: (code: number) => void;
}

/**
 * Registers `cleanup` for SIGTERM/SIGINT. Returns a function that runs the same shutdown by hand
 * (e.g. when leadership is lost) and resolves when cleanup is done.
 *
 * @example
 * const shutdown = onShutdown(async () => { await controller.stop(); });
 */
export function onShutdown(
  cleanup: (signal: string) => Promise<void>,
  opts: ShutdownOptions = {},
): (reason: string, code?: number) => Promise<void> {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  let running: Promise<void> | undefined;

  const shutdown = (reason: string, code = 0): Promise<void> => {
    if (running) return running;
    opts.log?.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      opts.log?.error({ timeoutMs: opts.timeoutMs ?? 25_000 }, 'shutdown timed out; exiting now');
      exit(1);
    }, opts.timeoutMs ?? 25_000);
    timer.unref();
    running = cleanup(reason)
      .then(
        () => exit(code),
        (err: unknown) => {
          opts.log?.error({ err }, 'shutdown failed');
          exit(1);
        },
      )
      .finally(() => clearTimeout(timer));
    return running;
  };

  for (const signal of signals) {
    process.on(signal, () => {
      if (running) {
        opts.log?.warn({ signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      void shutdown(signal);
    });
  }
  return shutdown;
}
