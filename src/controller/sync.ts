/**
 * The reconciler: runs the steps in order for one EmailSender, computes the desired status with a
 * pure function and writes it once, only if it changed. It never sees the queue: it returns
 * `{ requeueAfterMs, requeueWhen }` or throws (see {@link ReconcileResult}).
 *
 * @module
 */
import { z } from 'zod';
import { parseDuration } from '../api/duration.ts';
import { type EmailSender, type EmailSenderStatus, emailSenderSpecSchema } from '../api/emailsender.ts';
import { deliverabilityEvent } from '../deliverability/status.ts';
import { canonicalJson as canonical } from '../runtime/canonical-json.ts';
import type { Logger } from '../runtime/logger.ts';
import { redactSecrets } from '../runtime/redact.ts';
import { ReconcileError, RequeueError, StalledError } from './errors.ts';
import { jittered } from './rate-limiter.ts';
import { computeStatus, type Outcome, readyState } from './status.ts';
import { STEPS } from './steps/index.ts';
import type { EventNote, ReconcileResult, ReconcileState, StepDeps } from './types.ts';

/** Annotation that asks for a reconcile now (Flux's convention, set by `flux reconcile`). */
export const REQUESTED_AT = 'reconcile.fluxcd.io/requestedAt';

/** Hooks the reconciler reports through (metrics). All optional. */
export interface ReconcileObserver {
  outcome?(reason: string): void;
  statusWrite?(): void;
  probe?(reason: string, durationMs: number, shared: boolean): void;
}

/** What the reconciler needs beyond the steps' dependencies. */
export interface ReconcilerDeps extends StepDeps {
  /** The sender as the informer cache holds it. */
  getSender(namespace: string, name: string): EmailSender | undefined;
  /** Records an event about a sender; fire and forget. */
  recordEvent(sender: EmailSender, note: EventNote): void;
  log: Logger;
  observer?: ReconcileObserver;
  /**
   * When a new generation's probe has not finished after this long, write `Reconciling=True` first.
   * Default 1000 ms; fast (or shared) probes then cost no extra write.
   */
  progressDelayMs?: number;
  /**
   * How long the status write waits for a deliverability check still running once the probe is
   * done. Default 250 ms. A check not done by then lands on a follow-up reconcile
   * ({@link ReconcileResult.requeueWhen}): `Ready` never waits on DNS.
   */
  deliverabilityWaitMs?: number;
}

/** `promise`'s value if it settles within `ms`, else undefined (it keeps running). */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function redactDeep<T>(value: T, secrets: ReadonlyArray<string | undefined>): T {
  if (typeof value === 'string') return redactSecrets(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, secrets)])) as T;
  }
  return value;
}

/** Creates the reconcile function for `namespace/name` keys. */
export function createReconciler(deps: ReconcilerDeps): (key: string) => Promise<ReconcileResult> {
  return async (key) => {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const sender = deps.getSender(namespace, name);
    if (!sender || sender.metadata.deletionTimestamp) return {};
    const parsedSpec = emailSenderSpecSchema.safeParse(sender.spec);
    if (parsedSpec.success && parsedSpec.data.suspend) return {};

    const generation = sender.metadata.generation ?? 0;
    const prev = sender.status;
    const requestedAt = sender.metadata.annotations?.[REQUESTED_AT];
    const state: ReconcileState = {
      sender,
      spec: parsedSpec.success ? parsedSpec.data : (undefined as never),
      force: requestedAt !== undefined && requestedAt !== prev?.lastHandledReconcileAt,
      notes: [],
    };
    const secrets = () => [state.uri, state.parsed?.endpoint.password, state.dkimKey];
    let written: EmailSenderStatus | undefined = prev;
    let resourceVersion = sender.metadata.resourceVersion;
    const write = async (status: EmailSenderStatus): Promise<void> => {
      const safe = redactDeep(status, secrets());
      if (canonical(safe) === canonical(written)) return;
      resourceVersion = await deps.kube.patchStatus(namespace, name, resourceVersion, safe, written);
      written = safe;
      deps.observer?.statusWrite?.();
    };

    // A new generation whose probe is slow shows Reconciling=True while it runs. Armed around the
    // probe only, so a slow API server never costs an extra write.
    let progress: Promise<void> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const armProgress = () => {
      if (prev?.observedGeneration === generation) return;
      timer = setTimeout(() => {
        progress = write(
          computeStatus(written, { generation, outcome: { kind: 'progressing' } }, deps.clock),
        ).catch((err: unknown) => deps.log.debug({ key, err }, 'progress status not written'));
      }, deps.progressDelayMs ?? 1000);
    };

    let outcome: Outcome | undefined;
    let failure: unknown;
    let failedStep: string | undefined;
    try {
      if (!parsedSpec.success) {
        throw new StalledError('InvalidSpec', `spec is invalid: ${z.prettifyError(parsedSpec.error)}`);
      }
      for (const [stepName, step] of STEPS) {
        failedStep = stepName;
        if (stepName === 'probe') armProgress();
        await step(state, deps);
        clearTimeout(timer);
      }
      failedStep = undefined;
      outcome = { kind: 'ready', message: state.probe?.message ?? 'verified' };
    } catch (err) {
      if (err instanceof ReconcileError)
        outcome = { kind: err.kind, reason: err.reason, message: err.message };
      else failure = err;
    } finally {
      clearTimeout(timer);
      await progress;
    }
    if (state.probe) deps.observer?.probe?.(state.probe.reason, state.probe.durationMs, !!state.probeShared);
    // Started before the probe, ran beside it; it never rejects and never changes `outcome`, and
    // it never holds up the status write: a check not done within a short wait (a DNS server that
    // does not answer) keeps running, Deliverable keeps its previous value, and the key is
    // reconciled again when the check is done (its report kept by the checker, the probe's by the
    // probe cache, so the follow-up repeats neither).
    const check = state.deliverability;
    const settled = check && (await within(check, deps.deliverabilityWaitMs ?? 250));
    const deliverability = settled?.value;
    // A failed check yields no report and is not kept: requeueing on it could loop.
    const requeueWhen = check && !settled ? check.then((r) => r !== undefined) : undefined;
    const deliverabilityNote = deliverability && deliverabilityEvent(prev, deliverability);
    if (deliverabilityNote) state.notes.push(deliverabilityNote);
    if (!outcome) {
      // An API error (or a bug): status stays as it is; the queue retries with backoff.
      deps.observer?.outcome?.('Error');
      throw Object.assign(
        new Error(`${failedStep ?? 'reconcile'} failed: ${(failure as Error)?.message ?? failure}`),
        {
          cause: failure,
        },
      );
    }

    const desired = computeStatus(
      written,
      {
        generation,
        outcome,
        ...(requestedAt !== undefined ? { requestedAt } : {}),
        ...(state.parsed ? { parsed: state.parsed } : {}),
        ...(state.probe ? { probe: state.probe } : {}),
        ...(state.published ? { published: state.published } : {}),
        ...(state.desired ? { desiredRevision: state.desired.revision } : {}),
        ...(deliverability ? { deliverability } : {}),
      },
      deps.clock,
      state.probeAt,
    );
    const before = readyState(prev);
    await write(desired);
    const after = readyState(written);
    const reason =
      outcome.kind === 'ready' ? 'Verified' : outcome.kind === 'progressing' ? 'Progressing' : outcome.reason;
    deps.observer?.outcome?.(reason);
    if (before !== after) {
      const ready = written?.conditions?.find((c) => c.type === 'Ready');
      // One event per transition: a config published by the same reconcile rides along.
      const published = state.notes.findIndex((n) => n.reason === 'ConfigPublished');
      const extra = published >= 0 ? `; ${state.notes.splice(published, 1)[0]?.note}` : '';
      deps.recordEvent(sender, {
        type: ready?.status === 'True' ? 'Normal' : 'Warning',
        reason,
        action: 'Probe',
        note: redactSecrets(`${ready?.message ?? reason}${extra}`, secrets()),
      });
    }
    for (const note of state.notes) deps.recordEvent(sender, redactDeep(note, secrets()));

    const intervalMs = parseDuration(state.spec?.probe.interval ?? '10m') ?? 600_000;
    const late = requeueWhen ? { requeueWhen } : {};
    if (outcome.kind === 'ready') return { requeueAfterMs: jittered(intervalMs), ...late };
    // A failed probe is retried with backoff anyway; the report is there for the retry.
    if (outcome.kind === 'retry')
      throw new RequeueError(outcome.reason, redactSecrets(outcome.message, secrets()), intervalMs);
    return late;
  };
}
