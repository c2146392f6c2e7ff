/**
 * The deliverability check: the From domain's SPF, DKIM and DMARC, evaluated the way receiving mail
 * servers will evaluate mail this sender delivers, summarized as the `Deliverable` condition and
 * `status.deliverability`.
 *
 * Gather (server addresses, SPF, DKIM, DMARC) → order the findings → first one is the reason; the
 * message lists every record to publish, so one edit of the zone fixes everything.
 *
 * @module
 */
import { isIP } from 'node:net';
import { fromDomain } from '../api/address.ts';
import { checkDkim, type DkimIdentity } from './dkim-check.ts';
import { checkDmarc } from './dmarc-check.ts';
import {
  DELIVERABILITY_REASONS,
  type DeliverabilityReason,
  type Finding,
  type RecordReport,
  reasonStatus,
} from './reasons.ts';
import { type DnsResolver, isTemporaryDnsError } from './resolver.ts';
import { checkSpf } from './spf-check.ts';

/** What to check. */
export interface DeliverabilityInput {
  /** spec.from.address: the From header and MAIL FROM of every message. */
  from: string;
  /** The SMTP server's host name or address (from the URI). */
  serverHost: string;
  /** spec.dkim with its private key, when the sidecar signs. */
  dkim?: DkimIdentity;
  resolver: DnsResolver;
  now?: () => Date;
}

/** The result: the condition's status, reason and message, and what `status.deliverability` shows. */
export interface DeliverabilityReport {
  status: 'True' | 'False' | 'Unknown';
  reason: DeliverabilityReason;
  message: string;
  /** Every finding, in reason order (the first is `reason`). */
  findings: Finding[];
  checkedAt: string;
  domain: string;
  serverAddresses: string[];
  spf?: RecordReport;
  dkim?: RecordReport;
  dmarc?: RecordReport;
}

/** The server's addresses through the same resolver, as receivers would see its A/AAAA records. */
async function serverAddresses(host: string, resolver: DnsResolver): Promise<string[]> {
  if (isIP(host)) return [host];
  const settled = await Promise.allSettled([resolver(host, 'A'), resolver(host, 'AAAA')]);
  const out = settled.flatMap((s) => (s.status === 'fulfilled' ? (s.value as string[]) : []));
  if (out.length > 0) return out;
  const errors = settled.map((s) => (s.status === 'rejected' ? s.reason : undefined));
  const temporary = errors.find(isTemporaryDnsError) as NodeJS.ErrnoException | undefined;
  throw Object.assign(
    new Error(
      temporary
        ? `cannot resolve SMTP host ${host}: DNS did not answer (${temporary.code})`
        : `SMTP host ${host} has no A or AAAA record`,
    ),
    { code: temporary?.code ?? 'ENOTFOUND' },
  );
}

/** Orders findings by the closed reason list, so the most fundamental problem is the reason. */
const rank = (f: Finding) => DELIVERABILITY_REASONS.indexOf(f.reason);

/** Builds the condition message: the first finding, then the others as "Also: …". */
function summarize(findings: Finding[], domain: string, dkim?: DkimIdentity): string {
  if (findings.length === 0) {
    const signed = dkim ? `, DKIM (selector ${dkim.selector}, d=${dkim.domain})` : '';
    return `Mail from ${domain} passes SPF${signed} and DMARC as receivers evaluate it.`;
  }
  const [first, ...rest] = findings;
  return [first!.message, ...rest.map((f) => `Also (${f.reason}): ${f.message}`)].join(' ');
}

/**
 * Runs the deliverability check.
 *
 * Never throws for DNS trouble: an unanswered query becomes `DNSLookupFailed` (status Unknown).
 * Throws only for a private key that cannot sign (a configuration error the caller reports).
 *
 * @example
 * const report = await checkDeliverability({ from: 'no-reply@example.com', serverHost: 'smtp.example.com', resolver: createDnsResolver() });
 */
export async function checkDeliverability(input: DeliverabilityInput): Promise<DeliverabilityReport> {
  const { from, serverHost, dkim, resolver } = input;
  const checkedAt = (input.now?.() ?? new Date()).toISOString();
  const domain = fromDomain(from);
  const findings: Finding[] = [];
  const base = { checkedAt, domain };

  let addresses: string[];
  try {
    addresses = await serverAddresses(serverHost, resolver);
  } catch (err) {
    const finding: Finding = { reason: 'DNSLookupFailed', message: `${(err as Error).message}.` };
    return {
      ...base,
      status: 'Unknown',
      reason: 'DNSLookupFailed',
      message: finding.message,
      findings: [finding],
      serverAddresses: [],
    };
  }

  const spf = await checkSpf(domain, from, serverHost, addresses, resolver);
  if (spf.finding) findings.push(spf.finding);
  // When DNS does not answer, asking it more only multiplies the wait: stop at the first timeout.
  const dk = dkim && !spf.temporary ? await checkDkim(from, dkim, resolver) : undefined;
  if (dk?.finding) findings.push(dk.finding);
  const dmarc =
    spf.temporary || dk?.finding?.reason === 'DNSLookupFailed'
      ? undefined
      : await checkDmarc(
          from,
          {
            spfPass: spf.pass,
            ...(dk?.pass ? { dkimPassDomain: dkim!.domain } : {}),
            ...(dkim ? { dkimDomain: dkim.domain } : {}),
          },
          resolver,
        );
  if (dmarc?.finding) findings.push(dmarc.finding);

  // A DNS failure anywhere makes every other verdict suspect: report only (the first) one.
  const failed = findings.find((f) => f.reason === 'DNSLookupFailed');
  const shown = failed ? [failed] : findings.sort((a, b) => rank(a) - rank(b));
  const reason = shown[0]?.reason ?? 'Aligned';
  return {
    ...base,
    status: reasonStatus(reason),
    reason,
    message: summarize(shown, domain, dkim),
    findings: shown,
    serverAddresses: addresses,
    spf: spf.report,
    ...(dk ? { dkim: dk.report } : {}),
    ...(dmarc ? { dmarc: dmarc.report } : {}),
  };
}
