/**
 * Errors a reconcile step throws, each with a `reason` from a closed set and a kind that says how
 * the controller handles it. They are mapped to conditions and requeues in exactly one place
 * (`sync.ts` for status, `controller.ts` for the queue).
 *
 * | kind      | Ready | Stalled | Reconciling | requeue                         |
 * |-----------|-------|---------|-------------|---------------------------------|
 * | `stalled` | False | True    | –           | none: a watch event brings it back |
 * | `retry`   | False | –       | True        | per-key backoff, capped at the probe interval |
 * | `waiting` | False | –       | True        | after `requeueAfterMs` (±10%), no sooner      |
 *
 * Messages are for people and never hold a credential: steps build them from redacted parts, and
 * `sync.ts` redacts the known secrets once more at the boundary.
 *
 * @module
 */
import { PROBE_REASONS, type ProbeReason } from '../smtp/reasons.ts';

/** Reasons the controller adds to the probe's: each documented, none invented elsewhere. */
export const CONTROLLER_REASONS = {
  SecretNotFound: 'The Secret named by spec.smtp.uriSecretRef or caSecretRef does not exist.',
  SecretKeyNotFound: 'The Secret exists but has no such key.',
  InvalidCA: 'The caSecretRef key holds no PEM certificate.',
  InvalidDKIMKey:
    'The spec.dkim.privateKeySecretRef key holds no RSA PEM private key (the signer does not take Ed25519).',
  InvalidSpec: 'The spec does not pass validation (the CRD schema normally refuses it first).',
  ConfigSecretConflict:
    'A Secret named <name>-mailroom exists that this EmailSender does not control: it is left untouched; rename or delete it, or rename the EmailSender.',
  Progressing: 'A new generation is being probed (Reconciling=True, Ready=Unknown).',
  ProgressingWithRetry: 'The last probe failed; it is retried with backoff (Reconciling=True).',
} as const;

/** Every reason that can appear in `Ready`, `Stalled` or `Reconciling`. */
export type Reason = ProbeReason | keyof typeof CONTROLLER_REASONS;

/** All documented reasons with their meaning. */
export const ALL_REASONS: Readonly<Record<Reason, string>> = { ...PROBE_REASONS, ...CONTROLLER_REASONS };

/** How a failed reconcile is handled. */
export type ErrorKind = 'stalled' | 'retry' | 'waiting';

/** Base of step failures: a reason, a kind, a message fit for status. */
export class ReconcileError extends Error {
  readonly reason: Reason;
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, reason: Reason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReconcileError';
    this.kind = kind;
    this.reason = reason;
  }
}

/** Nothing changes until the user acts: Stalled=True, no retry. */
export class StalledError extends ReconcileError {
  constructor(reason: Reason, message: string, options?: ErrorOptions) {
    super('stalled', reason, message, options);
    this.name = 'StalledError';
  }
}

/** Worth trying again: Ready=False, retried with per-key backoff. */
export class RetryError extends ReconcileError {
  constructor(reason: Reason, message: string, options?: ErrorOptions) {
    super('retry', reason, message, options);
    this.name = 'RetryError';
  }
}

/**
 * Not worth trying again before `requeueAfterMs`: Ready=False, one timed requeue, no backoff. A
 * login the server rejected (5xx to AUTH) waits for the probe interval, because retrying it on a
 * backoff of seconds is what makes providers lock the account the running sidecars still use.
 */
export class WaitError extends ReconcileError {
  readonly requeueAfterMs: number;
  constructor(reason: Reason, message: string, requeueAfterMs: number, options?: ErrorOptions) {
    super('waiting', reason, message, options);
    this.name = 'WaitError';
    this.requeueAfterMs = requeueAfterMs;
  }
}

/**
 * Thrown by a reconciler to stop retries (controller-runtime's `TerminalError`): logged and counted,
 * never requeued. The next watch event brings the key back.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/**
 * A reconcile that failed after its status was written: the queue retries it with backoff, but no
 * longer than `maxBackoffMs` (the probe interval: waiting longer than a healthy resource would is
 * never useful).
 */
export class RequeueError extends Error {
  readonly reason: Reason;
  readonly maxBackoffMs: number;
  constructor(reason: Reason, message: string, maxBackoffMs: number) {
    super(message);
    this.name = 'RequeueError';
    this.reason = reason;
    this.maxBackoffMs = maxBackoffMs;
  }
}
