/**
 * A deliverability report as the EmailSender status shows it: the `Deliverable` condition and
 * `status.deliverability`, plus the event to record when the condition's reason changes.
 *
 * @module
 */
import type { Condition, EmailSenderStatus } from '../api/emailsender.ts';
import type { DeliverabilityReport } from './check.ts';
import { DELIVERABLE } from './reasons.ts';

type DeliverabilityStatus = NonNullable<EmailSenderStatus['deliverability']>;

/** `status.deliverability` for a report (second-precision time, as metav1.Time). */
export function deliverabilityStatus(r: DeliverabilityReport): DeliverabilityStatus {
  return {
    checkedAt: r.checkedAt.replace(/\.\d{3}Z$/, 'Z'),
    domain: r.domain,
    ...(r.serverAddresses.length ? { serverAddresses: r.serverAddresses } : {}),
    ...(r.spf ? { spf: r.spf } : {}),
    ...(r.dkim ? { dkim: r.dkim } : {}),
    ...(r.dmarc ? { dmarc: r.dmarc } : {}),
  };
}

/** The `Deliverable` condition's fields for a report (the caller stamps times and generation). */
export function deliverableCondition(
  r: DeliverabilityReport,
): Pick<Condition, 'type' | 'status' | 'reason' | 'message'> {
  return { type: DELIVERABLE, status: r.status, reason: r.reason, message: r.message };
}

/**
 * The event for a change of `Deliverable` (status or reason) since `prev`, or undefined. The
 * first check of a sender records one only when it is not Aligned, so a healthy fleet stays quiet.
 */
export function deliverabilityEvent(
  prev: EmailSenderStatus | undefined,
  r: DeliverabilityReport,
): { type: 'Normal' | 'Warning'; reason: string; action: string; note: string } | undefined {
  const before = prev?.conditions?.find((c) => c.type === DELIVERABLE);
  if (before && before.status === r.status && before.reason === r.reason) return undefined;
  if (!before && r.reason === 'Aligned') return undefined;
  return {
    type: r.status === 'False' ? 'Warning' : 'Normal',
    reason: r.reason,
    action: 'CheckDNS',
    note: r.message,
  };
}
