/**
 * SPF as receivers evaluate it (mailauth: includes followed, the 10-lookup and 2-void-lookup limits
 * of RFC 7208), for every address the SMTP server has.
 *
 * The MAIL FROM the sidecar uses is the From address, so the From domain's SPF record is the one
 * that decides, and a pass is also SPF-aligned for DMARC.
 *
 * @module
 */
import { spf } from './mailauth.ts';
import type { Finding, RecordReport } from './reasons.ts';
import type { DnsResolver } from './resolver.ts';

/**
 * Relay providers whose submission host is not where mail leaves from: their sending ranges are
 * published behind an `include:`, which is what the From domain must carry. Matched on the host name.
 */
export const RELAY_PROVIDERS: { match: RegExp; include: string; name: string }[] = [
  { match: /^email-smtp\.[a-z0-9-]+\.amazonaws\.com$/i, include: 'amazonses.com', name: 'Amazon SES' },
  { match: /(^|\.)sendgrid\.net$/i, include: 'sendgrid.net', name: 'SendGrid' },
  { match: /(^|\.)mailgun\.org$/i, include: 'mailgun.org', name: 'Mailgun' },
  { match: /(^|\.)postmarkapp\.com$/i, include: 'spf.mtasv.net', name: 'Postmark' },
  { match: /^smtp(-relay)?\.gmail\.com$/i, include: '_spf.google.com', name: 'Google Workspace' },
  { match: /^smtp\.office365\.com$/i, include: 'spf.protection.outlook.com', name: 'Microsoft 365' },
  { match: /(^|\.)sparkpostmail\.com$/i, include: 'sparkpostmail.com', name: 'SparkPost' },
  { match: /(^|\.)mailjet\.com$/i, include: 'spf.mailjet.com', name: 'Mailjet' },
  { match: /(^|\.)brevo\.com$/i, include: 'spf.brevo.com', name: 'Brevo' },
];

/** Outcome of the SPF check. */
export interface SpfOutcome {
  report: RecordReport;
  finding?: Finding;
  /** SPF passed for every server address: the From domain is SPF-aligned for DMARC. */
  pass: boolean;
  temporary: boolean;
}

/** The mechanism that authorizes `host`: the provider's include, or the host itself. */
export function spfMechanism(host: string, addresses: string[]): string {
  const provider = RELAY_PROVIDERS.find((p) => p.match.test(host));
  if (provider) return `include:${provider.include}`;
  if (addresses.length > 0 && addresses.every((a) => a === host))
    return addresses.map((a) => (a.includes(':') ? `ip6:${a}` : `ip4:${a}`)).join(' ');
  return `a:${host}`;
}

/**
 * The record with `mechanism` added before its closing `all` (or `redirect=`), so what was
 * already authorized stays authorized; a new record when there is none.
 */
export function spfWith(existing: string | undefined, mechanism: string): string {
  if (!existing) return `v=spf1 ${mechanism} ~all`;
  const terms = existing.trim().split(/\s+/);
  const end = terms.findIndex((t) => /^[-~?+]?all$/i.test(t) || /^redirect=/i.test(t));
  if (end < 0) return [...terms, mechanism].join(' ');
  return [...terms.slice(0, end), mechanism, ...terms.slice(end)].join(' ');
}

const MEANING: Record<string, string> = {
  pass: 'the From domain authorizes the SMTP server: receivers count SPF as passed and aligned',
  fail: 'the From domain forbids the SMTP server: receivers may refuse or junk the mail',
  softfail: 'the From domain says the SMTP server is probably not allowed: mail is likely junked',
  neutral: 'the From domain makes no statement about the SMTP server: SPF does not help',
  none: 'no SPF record: receivers cannot tell the SMTP server is allowed to send for the domain',
  permerror: 'the SPF record is broken: receivers treat it as a failure',
  temperror: 'the DNS lookup failed: receivers defer or treat the result as unknown',
};

/** mailauth's comment without its Received-SPF preamble ("mta: error in processing during lookup of …:"). */
const tidy = (comment: string | undefined): string | undefined =>
  comment?.replace(/^.*?error in processing during lookup of [^:]*:\s*/i, '');

/**
 * Checks the From domain's SPF for each server address.
 *
 * @param host SMTP server host name (or address) the sender connects to.
 * @param addresses The host's addresses (what it resolves to).
 */
export async function checkSpf(
  domain: string,
  sender: string,
  host: string,
  addresses: string[],
  resolver: DnsResolver,
): Promise<SpfOutcome> {
  const results = [];
  for (const ip of addresses) {
    results.push(await spf({ sender, ip, helo: host, mta: 'mailroom', resolver: resolver as never }));
  }
  const record = results.find((r) => r.rr)?.rr;
  const report = (result: string, extra = ''): RecordReport => ({
    name: domain,
    ...(record ? { record } : {}),
    result,
    meaning: `${MEANING[result] ?? result}${extra}`,
  });
  const mechanism = spfMechanism(host, addresses);
  const provider = RELAY_PROVIDERS.find((p) => p.match.test(host));

  const temp = results.find((r) => r.status.result === 'temperror');
  if (temp) {
    return {
      report: report('temperror'),
      pass: false,
      temporary: true,
      finding: {
        reason: 'DNSLookupFailed',
        message: `SPF lookup for ${domain} failed: ${tidy(temp.status.comment) ?? 'no answer from DNS'}.`,
      },
    };
  }
  const perm = results.find((r) => r.status.result === 'permerror');
  if (perm) {
    const why = tidy(perm.status.comment) ?? 'invalid record';
    const lookups = perm.lookups ? ` (${perm.lookups.count} DNS lookups, limit ${perm.lookups.limit})` : '';
    return {
      report: report('permerror', `: ${why}${lookups}`),
      pass: false,
      temporary: false,
      finding: {
        reason: 'SPFPermError',
        message: `SPF record of ${domain} is broken (${why}${lookups}); receivers treat that as a failure. Flatten or remove includes so at most 10 DNS lookups remain, keeping ${mechanism}.`,
      },
    };
  }
  if (results.length === 0 || results.every((r) => r.status.result === 'none')) {
    const publish = { name: domain, value: spfWith(undefined, mechanism) };
    return {
      report: report('none'),
      pass: false,
      temporary: false,
      finding: {
        reason: 'NoSPFRecord',
        message: `${domain} publishes no SPF record. Publish TXT ${publish.name} "${publish.value}".`,
        publish,
      },
    };
  }
  // A relay's submission address is not where it sends from: what must hold is that the domain
  // includes the relay's published ranges.
  const viaProvider =
    provider && record?.split(/\s+/).some((t) => t.toLowerCase() === `include:${provider.include}`);
  if (viaProvider || results.every((r) => r.status.result === 'pass')) {
    return { report: report('pass'), pass: true, temporary: false };
  }
  const failing = results.filter((r) => r.status.result !== 'pass');
  const verdict = failing[0]!.status.result;
  const publish = { name: domain, value: spfWith(record, mechanism) };
  const who = provider
    ? `${provider.name} (${host})`
    : `${host} (${failing.map((r) => r['client-ip']).join(', ')})`;
  return {
    report: report(verdict),
    pass: false,
    temporary: false,
    finding: {
      reason: 'SPFDoesNotAuthorizeServer',
      message: `SPF record of ${domain} does not authorize ${who}: result ${verdict}. Publish TXT ${publish.name} "${publish.value}" (replacing the current SPF record).`,
      publish,
    },
  };
}
