/**
 * Deliverability: will mail from this sender land in the inbox? SPF, DKIM and DMARC of the From
 * domain checked the way receivers check them (mailauth), through a configurable, caching resolver;
 * and the DKIM key helpers the sidecar and `mailroom dkim keygen` share.
 *
 * @module
 */
export { checkDeliverability, type DeliverabilityInput, type DeliverabilityReport } from './check.ts';
export type { DkimIdentity } from './dkim-check.ts';
export {
  DKIM_KEY_TYPES,
  type DkimKeyPair,
  type DkimKeyType,
  type DkimRecord,
  dkimRecordName,
  dkimRecordValue,
  generateDkimKey,
  loadPrivateKey,
  zoneFileText,
} from './dkim-key.ts';
export {
  DELIVERABILITY_REASONS,
  DELIVERABLE,
  type DeliverabilityReason,
  type Finding,
  publishText,
  type RecordReport,
  reasonStatus,
} from './reasons.ts';
export { type CachingResolver, createDnsResolver, type DnsResolver } from './resolver.ts';
