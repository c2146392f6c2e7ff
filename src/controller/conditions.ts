/**
 * Conditions, declared as data, and one generic way to set them.
 *
 * Rules (metav1.Condition, Flux `runtime/conditions`, kstatus):
 * - every condition carries the `observedGeneration` it was computed from;
 * - `lastTransitionTime` moves only when `status` flips, never for a new reason or message;
 * - messages are trimmed to {@link MAX_MESSAGE} characters;
 * - conditions are kept in the order of {@link CONDITIONS}, so equal states serialize equally and a
 *   status is written only when something really changed.
 *
 * @module
 */
import type { Condition } from '../api/emailsender.ts';

/** A clock, injectable so tests control time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** The conditions this controller owns, atop everything else. */
export const CONDITIONS = {
  Ready: {
    polarity: 'positive',
    summary: 'True when the server was reached, secured and authenticated as sending will be.',
  },
  Reconciling: {
    polarity: 'negative',
    summary: 'True while a new generation is being probed, or a failed probe is retried with backoff.',
  },
  Stalled: {
    polarity: 'negative',
    summary:
      'True when nothing changes until the user acts (InvalidURI, SecretNotFound, SecretKeyNotFound, ConfigSecretConflict, …).',
  },
  Deliverable: {
    polarity: 'positive',
    summary:
      'True when SPF, DKIM and DMARC of the From domain let receivers accept the mail (never affects Ready).',
  },
  InsecureTLS: {
    polarity: 'negative',
    summary:
      'True when the URI turns certificate checks off (skip_ssl_verify) or TLS off (disable_starttls).',
  },
  CertificateExpiringSoon: {
    polarity: 'negative',
    summary: 'True when the server certificate expires in under 14 days.',
  },
} as const;

/** Type of a condition this controller sets. */
export type ConditionType = keyof typeof CONDITIONS;

/** Longest message kept in a condition. */
export const MAX_MESSAGE = 1024;

const ORDER = Object.keys(CONDITIONS);

/** What a caller states about a condition; the helper adds the time. */
export interface ConditionInput {
  type: string;
  status: Condition['status'];
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** RFC 3339 with second precision, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function trim(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…`;
}

/**
 * Returns `conditions` with `input` set: added, or replaced keeping `lastTransitionTime` when the
 * status did not flip. Never mutates its argument.
 *
 * @example
 * setCondition([], { type: 'Ready', status: 'True', reason: 'Verified', message: 'ok', observedGeneration: 2 }, clock)
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  clock: Clock = systemClock,
): Condition[] {
  const existing = conditions?.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime:
      existing && existing.status === input.status ? existing.lastTransitionTime : rfc3339(clock.now()),
    reason: input.reason,
    message: trim(input.message),
  };
  const rest = (conditions ?? []).filter((c) => c.type !== input.type);
  return sortConditions([...rest, next]);
}

/** Returns `conditions` without the condition of `type`. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** The condition of `type`, if present. */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Own conditions in declaration order, then foreign ones by type. */
export function sortConditions(conditions: Condition[]): Condition[] {
  const rank = (t: string) => {
    const i = ORDER.indexOf(t);
    return i === -1 ? ORDER.length : i;
  };
  return conditions.sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}
