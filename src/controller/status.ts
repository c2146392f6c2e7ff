/**
 * The desired status of an EmailSender, computed by one pure function from the previous status and
 * what this reconcile found. `sync.ts` writes it, once, only when it differs.
 *
 * @module
 */
import type { ClusterEmailSenderStatus } from '../api/clusteremailsender.ts';
import type { Condition, EmailSenderStatus } from '../api/emailsender.ts';
import type { DeliverabilityReport } from '../deliverability/check.ts';
import { deliverabilityStatus, deliverableCondition } from '../deliverability/status.ts';
import type { ProbeResult } from '../smtp/probe-result.ts';
import type { ParsedUri } from '../smtp/uri.ts';
import { type Clock, getCondition, removeCondition, setCondition } from './conditions.ts';
import type { Reason } from './errors.ts';
import type { EventNote, PublishedConfig } from './types.ts';

/** How a reconcile ended (or, for `progressing`, how it is going). */
export type Outcome =
  | { kind: 'ready'; message: string }
  | { kind: 'progressing' }
  | { kind: 'stalled' | 'retry'; reason: Reason; message: string }
  | { kind: 'waiting'; reason: Reason; message: string; requeueAfterMs: number };

/** The status of either kind (a ClusterEmailSender's adds `namespaces`). */
export type SenderStatus = EmailSenderStatus & ClusterEmailSenderStatus;

/** What a reconcile observed; every field is optional because a step can fail before it. */
export interface Observation {
  generation: number;
  outcome: Outcome;
  /** Value of the `reconcile.fluxcd.io/requestedAt` annotation, when handled. */
  requestedAt?: string;
  parsed?: ParsedUri;
  probe?: ProbeResult;
  published?: PublishedConfig;
  desiredRevision?: string;
  /** This reconcile's deliverability report; absent: the previous Deliverable and report stay. */
  deliverability?: DeliverabilityReport;
  /** ClusterEmailSender: pods using it in every namespace; absent: the previous count stays. */
  consumers?: number;
  /** ClusterEmailSender: namespaces holding its config; absent: the previous list stays. */
  namespaces?: string[];
}

/** `600000` → `10m`, `90000` → `90s`: how status messages state an interval. */
function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

type LastProbe = NonNullable<EmailSenderStatus['lastProbe']>;

function lastProbe(p: ProbeResult, at: Date): LastProbe {
  const cert = p.tls?.certificate;
  return {
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    durationMs: Math.max(0, Math.round(p.durationMs)),
    result: p.reason,
    ...(p.greeting !== undefined ? { greeting: p.greeting } : {}),
    ...(p.extensions.length ? { extensions: p.extensions } : {}),
    ...(p.authMechanisms.length ? { authMechanisms: p.authMechanisms } : {}),
    ...(p.tls
      ? {
          tls: {
            version: p.tls.version,
            cipher: p.tls.cipher,
            ...(cert
              ? {
                  certificate: {
                    subject: cert.subject,
                    issuer: cert.issuer,
                    notAfter: cert.notAfter,
                    sha256: cert.sha256,
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}

function insecureTls(conditions: Condition[], parsed: ParsedUri, gen: number, clock: Clock): Condition[] {
  const warning = parsed.warnings.find((w) => w.code === 'Cleartext' || w.code === 'CertificateNotVerified');
  if (!warning) return removeCondition(conditions, 'InsecureTLS');
  return setCondition(
    conditions,
    {
      type: 'InsecureTLS',
      status: 'True',
      reason: warning.code,
      message: warning.message,
      observedGeneration: gen,
    },
    clock,
  );
}

function expiringSoon(conditions: Condition[], probe: ProbeResult, gen: number, clock: Clock): Condition[] {
  const warning = probe.warnings.find((w) => w.code === 'CertificateExpiringSoon');
  if (!warning) return removeCondition(conditions, 'CertificateExpiringSoon');
  return setCondition(
    conditions,
    {
      type: 'CertificateExpiringSoon',
      status: 'True',
      reason: 'CertificateExpiringSoon',
      message: warning.message,
      observedGeneration: gen,
    },
    clock,
  );
}

/**
 * The status this reconcile should leave. Pure: same inputs, same output (the clock only stamps
 * conditions that flip and a new probe's time).
 *
 * `lastProbe` is kept from `prev` when this reconcile reused the probe it already reported, so a
 * shared result never changes a status by itself.
 */
export function computeStatus(
  prev: SenderStatus | undefined,
  obs: Observation,
  clock: Clock,
  probeTime?: Date,
): SenderStatus {
  const gen = obs.generation;
  const o = obs.outcome;
  let conditions: Condition[] = [...(prev?.conditions ?? [])];
  const set = (type: string, status: Condition['status'], reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: gen }, clock);
  };

  switch (o.kind) {
    case 'ready':
      set('Ready', 'True', 'Verified', o.message);
      conditions = removeCondition(removeCondition(conditions, 'Reconciling'), 'Stalled');
      break;
    case 'progressing': {
      const msg = `probing generation ${gen}`;
      set('Reconciling', 'True', 'Progressing', msg);
      set('Ready', 'Unknown', 'Progressing', msg);
      conditions = removeCondition(conditions, 'Stalled');
      break;
    }
    case 'stalled':
      set('Ready', 'False', o.reason, o.message);
      set('Stalled', 'True', o.reason, o.message);
      conditions = removeCondition(conditions, 'Reconciling');
      break;
    case 'retry':
      set('Ready', 'False', o.reason, o.message);
      set('Reconciling', 'True', 'ProgressingWithRetry', `retrying with backoff after ${o.reason}`);
      conditions = removeCondition(conditions, 'Stalled');
      break;
    case 'waiting':
      set('Ready', 'False', o.reason, o.message);
      set(
        'Reconciling',
        'True',
        'ProgressingWithRetry',
        `retrying in ${humanDuration(o.requeueAfterMs)} (the probe interval) after ${o.reason}, not sooner, so the provider does not lock the account; changing the Secret retries at once`,
      );
      conditions = removeCondition(conditions, 'Stalled');
      break;
  }
  if (obs.parsed) conditions = insecureTls(conditions, obs.parsed, gen, clock);
  if (obs.probe) conditions = expiringSoon(conditions, obs.probe, gen, clock);
  if (obs.deliverability) {
    const c = deliverableCondition(obs.deliverability);
    set(c.type, c.status, c.reason, c.message);
  }

  const progressing = o.kind === 'progressing';
  const observedGeneration = progressing ? prev?.observedGeneration : gen;
  const published = obs.published ?? prev?.config;
  const endpoint = obs.parsed
    ? `${obs.parsed.endpoint.host.includes(':') ? `[${obs.parsed.endpoint.host}]` : obs.parsed.endpoint.host}:${obs.parsed.endpoint.port}`
    : progressing
      ? prev?.endpoint
      : undefined;
  const security = obs.parsed ? obs.parsed.endpoint.security : progressing ? prev?.security : undefined;
  const probe = obs.probe && probeTime ? lastProbe(obs.probe, probeTime) : (prev?.lastProbe ?? undefined);
  const lastHandled = progressing
    ? prev?.lastHandledReconcileAt
    : (obs.requestedAt ?? prev?.lastHandledReconcileAt);

  const status: SenderStatus = {
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    ...(lastHandled !== undefined ? { lastHandledReconcileAt: lastHandled } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(security !== undefined ? { security } : {}),
    conditions,
    ...(probe ? { lastProbe: probe } : {}),
  };
  const deliverability = obs.deliverability ? deliverabilityStatus(obs.deliverability) : prev?.deliverability;
  if (deliverability) status.deliverability = deliverability;
  if (published) {
    const desired =
      obs.desiredRevision && obs.desiredRevision !== published.revision ? obs.desiredRevision : undefined;
    status.config = {
      secretName: published.secretName,
      revision: published.revision,
      publishedAt: published.publishedAt,
      ...(desired ? { desiredRevision: desired } : {}),
    };
  }
  // An EmailSender's consumers are counted by the webhook (carried over); a ClusterEmailSender's
  // by its own reconcile, with the namespaces that hold its config.
  const consumers = obs.consumers ?? prev?.consumers;
  if (consumers !== undefined) status.consumers = consumers;
  const namespaces = obs.namespaces ?? prev?.namespaces;
  if (namespaces !== undefined) status.namespaces = namespaces;
  return status;
}

/** The Ready condition's (status, reason) pair, the unit of a transition event. */
export function readyState(status: EmailSenderStatus | undefined): string {
  const c = getCondition(status?.conditions, 'Ready');
  return c ? `${c.status}/${c.reason}` : 'none';
}

/** The reason a reconcile ended with: the Ready reason it sets. */
export function outcomeReason(outcome: Outcome): string {
  return outcome.kind === 'ready'
    ? 'Verified'
    : outcome.kind === 'progressing'
      ? 'Progressing'
      : outcome.reason;
}

/**
 * The events of one reconcile, given the status before and after it. Pure. One event per `Ready`
 * transition, never one per reconcile; notes that ride along (a config published by the same
 * reconcile) are folded into it, the others follow on their own.
 */
export function eventsOf(
  before: EmailSenderStatus | undefined,
  after: EmailSenderStatus | undefined,
  reason: string,
  notes: readonly EventNote[],
): EventNote[] {
  const plain = ({ ridesAlong: _, ...note }: EventNote): EventNote => note;
  if (readyState(before) === readyState(after)) return notes.map(plain);
  const ready = getCondition(after?.conditions, 'Ready');
  const riders = notes.filter((n) => n.ridesAlong).map((n) => n.note);
  const transition: EventNote = {
    type: ready?.status === 'True' ? 'Normal' : 'Warning',
    reason,
    action: 'Probe',
    note: [ready?.message ?? reason, ...riders].join('; '),
  };
  return [transition, ...notes.filter((n) => !n.ridesAlong).map(plain)];
}
