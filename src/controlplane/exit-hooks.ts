/**
 * Synchronous last-chance cleanup when the parent process ends without calling `stop()`:
 * normal exit, an uncaught error, or SIGINT/SIGTERM/SIGHUP.
 *
 * @module
 */

type Hook = () => void;

const hooks = new Set<Hook>();
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let signalHooks = 0;

function runAll(): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // One failed cleanup must not prevent the others.
    }
  }
  hooks.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  // A listener disables Node's default "terminate on signal". When ours is the only one, drop it and
  // raise the signal again so the parent still dies as it would have (same exit status for a shell);
  // when others listen, they own the shutdown and we only made sure our processes are gone.
  if (process.listenerCount(signal) === 1) {
    detachSignals();
    process.kill(process.pid, signal);
  }
}

function attachSignals(): void {
  for (const signal of signals) process.on(signal, onSignal);
}

function detachSignals(): void {
  for (const signal of signals) process.off(signal, onSignal);
  signalHooks = 0;
}

process.on('exit', runAll);

/**
 * Registers `hook` to run synchronously if the process ends first; returns the function that
 * unregisters it. With `signals: false` only normal exit runs it, for callers (such as the dev
 * command) that handle SIGINT/SIGTERM themselves and call their own `stop()`.
 */
export function onParentExit(hook: Hook, opts: { signals: boolean }): () => void {
  const wrapped: Hook = () => hook();
  hooks.add(wrapped);
  if (opts.signals) {
    if (signalHooks === 0) attachSignals();
    signalHooks++;
  }
  return () => {
    if (!hooks.delete(wrapped) || !opts.signals) return;
    signalHooks--;
    // Leaving the listener once nothing needs it restores Node's default signal behaviour.
    if (signalHooks === 0) detachSignals();
  };
}
