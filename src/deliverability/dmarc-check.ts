/**
 * DMARC as receivers evaluate it (mailauth: the RFC 9989 DNS tree walk for the policy and the
 * organizational domain, relaxed or strict alignment as the record asks), fed with what the SPF and
 * DKIM checks found.
 *
 * @module
 */
import { fromDomain } from '../api/address.ts';
import { dmarc } from './mailauth.ts';
import type { Finding, RecordReport } from './reasons.ts';
import type { DnsResolver } from './resolver.ts';

/** Outcome of the DMARC check. */
export interface DmarcOutcome {
  report: RecordReport;
  finding?: Finding;
}

/** What the SPF and DKIM checks established, as DMARC inputs. */
export interface DmarcInputs {
  /** SPF passed for the MAIL FROM domain (the From domain: the sidecar uses the From address). */
  spfPass: boolean;
  /** The DKIM signing domain whose signature verified, if any. */
  dkimPassDomain?: string;
  /** The DKIM signing domain configured, verified or not (for the message). */
  dkimDomain?: string;
}

/** The policy record suggested when there is none: quarantine is what large receivers expect. */
export const suggestedDmarc = (): string => 'v=DMARC1; p=quarantine; adkim=r; aspf=r';

/** Checks DMARC for mail From `from`. */
export async function checkDmarc(
  from: string,
  inputs: DmarcInputs,
  resolver: DnsResolver,
): Promise<DmarcOutcome> {
  const domain = fromDomain(from);
  const res = await dmarc({
    headerFrom: from,
    spfDomains: inputs.spfPass ? [domain] : [],
    dkimDomains: inputs.dkimPassDomain ? [{ domain: inputs.dkimPassDomain }] : [],
    resolver: resolver as never,
  });
  const ownName = `_dmarc.${domain}`;
  if (!res) {
    return {
      report: { name: ownName, result: 'none', meaning: 'the From address has no usable domain' },
      finding: { reason: 'NoDMARCRecord', message: `The From address ${from} has no usable domain.` },
    };
  }
  const name = res.policyDomain ? `_dmarc.${res.policyDomain}` : ownName;
  const verdict = res.status.result;
  const base = { name, ...(res.rr ? { record: res.rr } : {}), result: verdict };

  if (verdict === 'temperror') {
    return {
      report: { ...base, meaning: 'the DNS lookup failed: receivers cannot apply the policy' },
      finding: {
        reason: 'DNSLookupFailed',
        message: `DMARC lookup for ${domain} failed: ${res.error ?? 'no answer from DNS'}.`,
      },
    };
  }
  if (!res.rr) {
    const publish = { name: ownName, value: suggestedDmarc() };
    return {
      report: {
        ...base,
        meaning: 'no DMARC policy: large receivers (Gmail, Yahoo, Microsoft) junk or refuse such mail',
      },
      finding: {
        reason: 'NoDMARCRecord',
        message: `${domain} publishes no DMARC policy, which large receivers now require. Publish TXT ${publish.name} "${publish.value}".`,
        publish,
      },
    };
  }
  if (verdict !== 'pass') {
    const dkim = inputs.dkimDomain
      ? inputs.dkimPassDomain
        ? `DKIM d=${inputs.dkimDomain} does not align with ${domain}`
        : `DKIM for ${inputs.dkimDomain} does not verify`
      : 'no DKIM signature is configured (spec.dkim)';
    const spf = inputs.spfPass ? 'SPF does not align' : `SPF does not pass for ${domain}`;
    return {
      report: {
        ...base,
        meaning: `neither SPF nor DKIM aligns with ${domain}: receivers apply p=${res.policy}`,
      },
      finding: {
        reason: 'DMARCNotAligned',
        message: `DMARC fails for ${domain}: ${spf} and ${dkim}, so receivers apply p=${res.policy}. Authorize the server in SPF, or sign with spec.dkim.domain set to ${domain} and publish its key.`,
      },
    };
  }
  if (res.policy === 'none') {
    const value = res.rr.replace(/\bp\s*=\s*none\b/i, 'p=quarantine');
    const publish = { name, value };
    return {
      report: {
        ...base,
        meaning:
          'aligned, but p=none asks receivers to do nothing with mail that fails: spoofing is not stopped',
      },
      finding: {
        reason: 'DMARCPolicyNone',
        message: `Mail from ${domain} is aligned, but its DMARC policy is p=none (monitoring only). When reports show no legitimate failures, publish TXT ${name} "${value}".`,
        publish,
      },
    };
  }
  return {
    report: {
      ...base,
      meaning: `aligned: receivers see DMARC pass (policy p=${res.policy} protects the domain from spoofing)`,
    },
  };
}
