/**
 * The reconcile loop: runs the steps in order and turns the first failure into an {@link Outcome}.
 * It knows no step by name: a step that needs a hook declares it (see `ReconcileStep`).
 *
 * @module
 */
import { ReconcileError, WaitError } from './errors.ts';
import type { Outcome } from './status.ts';
import type { ReconcileState, ReconcileStep, StepDeps } from './types.ts';

/** A step failed for a reason that is not the sender's (an API error, a bug): retried with backoff. */
export class StepFailure extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(`${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StepFailure';
    this.step = step;
  }
}

/** How the loop shows progress of a slow step (see `ReconcileStep.reportsProgress`). */
export interface Progress {
  /** How long a step that reports progress may run before `report` is called. */
  delayMs: number;
  /** Writes the progress; never rejects. Absent: no progress is shown (the generation is known). */
  report?: () => Promise<void>;
}

/** `work`, with `report` called if it takes longer than `delayMs`; waits for that report to end. */
async function withProgress(work: Promise<void>, delayMs: number, report: () => Promise<void>) {
  let reporting: Promise<void> | undefined;
  const timer = setTimeout(() => {
    reporting = report();
  }, delayMs);
  try {
    await work;
  } finally {
    clearTimeout(timer);
    // The final write must be guarded by the version the progress write returned.
    await reporting;
  }
}

/**
 * Runs `steps` in order on `state`. Resolves to how the reconcile ended: ready, or the first
 * {@link ReconcileError}'s reason and kind. Any other error rejects as a {@link StepFailure}.
 */
export async function runSteps(
  steps: readonly ReconcileStep[],
  state: ReconcileState,
  deps: StepDeps,
  progress: Progress,
): Promise<Outcome> {
  for (const step of steps) {
    try {
      const work = step.run(state, deps);
      const { report } = progress;
      await (step.reportsProgress && report ? withProgress(work, progress.delayMs, report) : work);
    } catch (err) {
      if (err instanceof WaitError)
        return {
          kind: 'waiting',
          reason: err.reason,
          message: err.message,
          requeueAfterMs: err.requeueAfterMs,
        };
      if (err instanceof ReconcileError && err.kind !== 'waiting')
        return { kind: err.kind, reason: err.reason, message: err.message };
      throw new StepFailure(step.name, err);
    }
  }
  return { kind: 'ready', message: state.probe?.message ?? 'verified' };
}
