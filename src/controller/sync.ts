/**
 * The reconciler of one EmailSender: run the steps in order, compute the desired status with a pure
 * function, write it once (only if it changed), record the events of the transition, requeue. It
 * never sees the queue: it returns `{ requeueAfterMs, requeueWhen }` or throws (see
 * {@link ReconcileResult}).
 *
 * @module
 */
import * as z from 'zod';
import { DEFAULT_PROBE_INTERVAL_MS, type EmailSenderSpec } from '../api/emailsender.ts';
import type { DeliverabilityReport } from '../deliverability/check.ts';
import { deliverabilityEvent } from '../deliverability/status.ts';
import { jittered } from '../kube/rate-limiter.ts';
import type { Logger } from '../runtime/logger.ts';
import { Redactor, redactSecrets } from '../runtime/redact.ts';
import { RequeueError, TerminalError } from './errors.ts';
import { parseSenderKey } from './keys.ts';
import { type AnySender, EMAIL_SENDERS, type SenderKind } from './kinds.ts';
import { runSteps } from './run-steps.ts';
import { computeStatus, eventsOf, type Observation, type Outcome, outcomeReason } from './status.ts';
import { redactDeep, type SecretValues, StatusWriter } from './status-writer.ts';
import type { EventNote, ReconcileResult, ReconcileState, StepDeps } from './types.ts';

/** Annotation that asks for a reconcile now (Flux's convention, set by `flux reconcile`). */
export const REQUESTED_AT = 'reconcile.fluxcd.io/requestedAt';

/**
 * Whether a sender's add or update event needs a reconcile. Level-based, but not blind: our own
 * status writes come back as updates and change none of these.
 */
export function senderChangeNeedsReconcile(
  type: 'add' | 'update',
  s: AnySender,
  old: AnySender | undefined,
): boolean {
  return (
    type === 'add' ||
    s.metadata.generation !== old?.metadata.generation ||
    s.metadata.annotations?.[REQUESTED_AT] !== old?.metadata.annotations?.[REQUESTED_AT] ||
    !!s.metadata.deletionTimestamp !== !!old?.metadata.deletionTimestamp
  );
}

/** Hooks the reconciler reports through (metrics). All optional. */
export interface ReconcileObserver {
  outcome?(reason: string): void;
  statusWrite?(): void;
  probe?(reason: string, durationMs: number, shared: boolean): void;
}

/** What the reconciler needs beyond the steps' dependencies. */
export interface ReconcilerDeps extends StepDeps {
  /** The sender as the informer cache holds it (`namespace` empty for a ClusterEmailSender). */
  getSender(namespace: string, name: string): AnySender | undefined;
  /** Records an event about a sender; fire and forget. */
  recordEvent(sender: AnySender, note: EventNote): void;
  log: Logger;
  observer?: ReconcileObserver;
  /**
   * When a new generation's slow step (the probe) has not finished after this long, write
   * `Reconciling=True` first. Default 1000 ms; fast (or shared) probes then cost no extra write.
   */
  progressDelayMs?: number;
  /**
   * How long the status write waits for a deliverability check still running once the probe is
   * done. Default 250 ms. A check not done by then lands on a follow-up reconcile
   * ({@link ReconcileResult.requeueWhen}): `Ready` never waits on DNS.
   */
  deliverabilityWaitMs?: number;
}

/** The sender behind a key when it is to be reconciled: not gone, not being deleted. */
function senderOf(deps: ReconcilerDeps, namespace: string, name: string): AnySender | undefined {
  const sender = deps.getSender(namespace, name);
  return sender && !sender.metadata.deletionTimestamp ? sender : undefined;
}

function newState(sender: AnySender, spec: EmailSenderSpec, kind: SenderKind): ReconcileState {
  const requestedAt = sender.metadata.annotations?.[REQUESTED_AT];
  const force = requestedAt !== undefined && requestedAt !== sender.status?.lastHandledReconcileAt;
  return { sender, spec, force, notes: [], secretNamespace: kind.secretNamespace(sender) };
}

/** A spec the schema refuses (the CRD normally refuses it first). */
function invalidSpec(error: z.ZodError | undefined): Outcome {
  const why = error ? z.prettifyError(error) : 'unknown';
  return { kind: 'stalled', reason: 'InvalidSpec', message: `spec is invalid: ${why}` };
}

/** The secret values a reconcile has read so far: every output is redacted of them. */
const secretsOf =
  (state: ReconcileState | undefined): SecretValues =>
  () => [state?.uri, state?.parsed?.endpoint.password, state?.dkimKey];

/**
 * The deliverability report, if the check (started before the probe, run beside it, never
 * rejecting) is done within `waitMs`. A check still running keeps running: Deliverable keeps its
 * previous value and `requeueWhen` brings the key back when it is done (its report kept by the
 * checker, the probe's by the probe cache, so the follow-up repeats neither). A failed check
 * yields no report and no requeue: requeueing on it could loop.
 */
async function settleDeliverability(
  check: Promise<DeliverabilityReport | undefined> | undefined,
  waitMs: number,
): Promise<{ report?: DeliverabilityReport; requeueWhen?: Promise<boolean> }> {
  if (!check) return {};
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), waitMs);
  });
  const settled = await Promise.race([check, late]).finally(() => clearTimeout(timer));
  if (settled === 'late') return { requeueWhen: check.then((r) => r !== undefined) };
  return settled ? { report: settled } : {};
}

/** What the status is computed from: the outcome and whatever the steps found before it. */
function observation(
  sender: AnySender,
  outcome: Outcome,
  state: ReconcileState | undefined,
  deliverability: DeliverabilityReport | undefined,
): Observation {
  const requestedAt = sender.metadata.annotations?.[REQUESTED_AT];
  return {
    generation: sender.metadata.generation ?? 0,
    outcome,
    ...(requestedAt !== undefined ? { requestedAt } : {}),
    ...(state?.parsed ? { parsed: state.parsed } : {}),
    ...(state?.probe ? { probe: state.probe } : {}),
    ...(state?.published ? { published: state.published } : {}),
    ...(state?.desired ? { desiredRevision: state.desired.revision } : {}),
    ...(deliverability ? { deliverability } : {}),
    ...(state?.targets ? { consumers: state.targets.consumers } : {}),
    ...(state?.namespaces ? { namespaces: state.namespaces } : {}),
  };
}

/**
 * When to come back (controller-runtime's contract): a verified sender after its probe interval
 * (±10%), a waiting one (a rejected login) after its wait (±10%); a failure worth retrying through a thrown {@link RequeueError} (backoff capped at the
 * interval); a stalled one never (a watch event brings it back).
 */
function requeue(
  outcome: Outcome,
  spec: EmailSenderSpec | undefined,
  requeueWhen: Promise<boolean> | undefined,
  secrets: SecretValues,
): ReconcileResult {
  const intervalMs = spec?.probe.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const late = requeueWhen ? { requeueWhen } : {};
  if (outcome.kind === 'ready') return { requeueAfterMs: jittered(intervalMs), ...late };
  if (outcome.kind === 'waiting') return { requeueAfterMs: jittered(outcome.requeueAfterMs), ...late };
  if (outcome.kind === 'retry')
    throw new RequeueError(outcome.reason, redactSecrets(outcome.message, secrets()), intervalMs);
  return late;
}

/**
 * Ends a reconcile that has an outcome: waits briefly for the deliverability check, computes the
 * desired status and writes it (once, only if it changed), records the events of the transition.
 * Returns the work still running after the write (see {@link ReconcileResult.requeueWhen}), wrapped:
 * a promise resolved with a promise would wait for it.
 */
async function conclude(
  deps: ReconcilerDeps,
  sender: AnySender,
  state: ReconcileState | undefined,
  outcome: Outcome,
  status: StatusWriter,
  secrets: SecretValues,
): Promise<{ requeueWhen?: Promise<boolean> }> {
  const { report, requeueWhen } = await settleDeliverability(
    state?.deliverability,
    deps.deliverabilityWaitMs ?? 250,
  );
  const notes = [...(state?.notes ?? [])];
  const note = report && deliverabilityEvent(sender.status, report);
  if (note) notes.push(note);
  const obs = observation(sender, outcome, state, report);
  await status.write(computeStatus(status.written, obs, deps.clock, state?.probeAt));
  const reason = outcomeReason(outcome);
  deps.observer?.outcome?.(reason);
  for (const event of eventsOf(sender.status, status.written, reason, notes))
    deps.recordEvent(sender, redactDeep(event, secrets()));
  return requeueWhen ? { requeueWhen } : {};
}

/**
 * Creates the reconcile function of one kind: `namespace/name` keys for EmailSenders (the
 * default), `name` keys for ClusterEmailSenders (see `kinds.ts`).
 */
export function createReconciler(
  deps: ReconcilerDeps,
  kind: SenderKind = EMAIL_SENDERS,
): (key: string) => Promise<ReconcileResult> {
  return async (key) => {
    const { namespace, name } = parseSenderKey(key);
    const sender = senderOf(deps, namespace, name);
    if (!sender) {
      await kind.gone?.(name, deps);
      return {};
    }
    const spec = kind.specSchema.safeParse(sender.spec);
    if (spec.success && spec.data.suspend) return {};
    const state = spec.success ? newState(sender, spec.data, kind) : undefined;
    const secrets = secretsOf(state);
    const status = new StatusWriter(deps.kube, sender, secrets, deps.observer?.statusWrite);
    const generation = sender.metadata.generation ?? 0;
    // A new generation whose probe is slow shows Reconciling=True while it runs; only then, so a
    // slow API server never costs an extra write.
    const showProgress = () =>
      status
        .write(computeStatus(status.written, { generation, outcome: { kind: 'progressing' } }, deps.clock))
        .catch((err: unknown) => deps.log.debug({ key, err }, 'progress status not written'));
    const progress = {
      delayMs: deps.progressDelayMs ?? 1000,
      ...(sender.status?.observedGeneration !== generation ? { report: showProgress } : {}),
    };

    let outcome: Outcome | undefined;
    let requeueWhen: Promise<boolean> | undefined;
    try {
      outcome = state ? await runSteps(kind.steps, state, deps, progress) : invalidSpec(spec.error);
    } catch (err) {
      // An API error (or a bug): status stays as it is; the queue retries with backoff. The
      // controller logs it: redacted of this sender's secrets first (an API error can echo a body).
      deps.observer?.outcome?.('Error');
      throw err instanceof Error && !(err instanceof TerminalError)
        ? new Redactor(secrets()).error(err)
        : err;
    } finally {
      const probe = state?.probe;
      if (probe) deps.observer?.probe?.(probe.reason, probe.durationMs, !!state.probeShared);
      // The one status write of this reconcile.
      if (outcome) ({ requeueWhen } = await conclude(deps, sender, state, outcome, status, secrets));
    }
    return requeue(outcome, state?.spec, requeueWhen, secrets);
  };
}
