/**
 * The closed set of reasons of the `Deliverable` condition, and the shapes every check returns.
 *
 * `Deliverable` is separate from `Ready`: a server can accept mail that receivers will still mark
 * as spam or refuse, because the From domain's DNS does not authorize it.
 *
 * @module
 */

/** Condition type the controller sets from a deliverability report. */
export const DELIVERABLE = 'Deliverable';

/**
 * Reasons, in the order they are reported when several apply (the first wins the condition):
 * a DNS failure hides every other answer; SPF and DKIM are what DMARC is computed from.
 */
export const DELIVERABILITY_REASONS = [
  'DNSLookupFailed',
  'NoSPFRecord',
  'SPFPermError',
  'SPFDoesNotAuthorizeServer',
  'DKIMKeyMissing',
  'DKIMKeyMismatch',
  'NoDMARCRecord',
  'DMARCNotAligned',
  'DMARCPolicyNone',
  'Aligned',
] as const;

export type DeliverabilityReason = (typeof DELIVERABILITY_REASONS)[number];

/**
 * What each reason means for `Deliverable`'s status: DMARCPolicyNone is informational (mail is
 * authenticated, the domain just does not ask receivers to act on failures yet); a DNS failure
 * means the answer is not known.
 */
export function reasonStatus(reason: DeliverabilityReason): 'True' | 'False' | 'Unknown' {
  if (reason === 'Aligned' || reason === 'DMARCPolicyNone') return 'True';
  if (reason === 'DNSLookupFailed') return 'Unknown';
  return 'False';
}

/** A TXT record to publish (or replace) in the From domain's DNS. */
export interface RecordToPublish {
  name: string;
  value: string;
}

/** One failed or informational check. */
export interface Finding {
  reason: Exclude<DeliverabilityReason, 'Aligned'>;
  /** What is wrong and exactly which TXT record to publish; never holds key material. */
  message: string;
  publish?: RecordToPublish;
}

/** What was found for one record type, as shown in `status.deliverability`. */
export interface RecordReport {
  /** DNS name the record was looked up at. */
  name: string;
  /** The record as published (joined character-strings), when one was found. */
  record?: string;
  /** The receiver's verdict: pass, fail, softfail, neutral, none, permerror, temperror. */
  result: string;
  /** One sentence on what that means for mail from this sender. */
  meaning: string;
}

/** Renders a record to publish the way the condition message shows it. */
export const publishText = (r: RecordToPublish): string => `TXT ${r.name} "${r.value}"`;
