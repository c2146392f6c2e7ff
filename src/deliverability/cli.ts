/**
 * `mailroom probe --deliverability`: the controller's SPF/DKIM/DMARC check run by hand, from flags,
 * and its text rendering.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { fromDomain } from '../api/address.ts';
import { checkDeliverability, type DeliverabilityReport } from './check.ts';
import { publishText } from './reasons.ts';
import { createDnsResolver } from './resolver.ts';

/** The probe command's flags this check reads. */
export interface DeliverabilityFlags {
  from?: string;
  /** `--dns-server host:port` (repeatable); empty: the system resolver. */
  dnsServer?: string[];
  dkimSelector?: string;
  dkimDomain?: string;
  dkimKeyFile?: string;
}

/** An input problem, reported like the probe's own (exit status 2). */
export class DeliverabilityInputError extends Error {}

/** The host of a probe result's `host:port` / `[v6]:port` endpoint. */
export function endpointHost(endpoint: string): string {
  const host = endpoint.slice(0, endpoint.lastIndexOf(':'));
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/**
 * Runs the check for the probed server. `--dkim-key-file` with `--dkim-selector` checks the key
 * the sidecar would sign with; the domain defaults to the From domain, as in `spec.dkim`.
 */
export async function deliverabilityFromFlags(
  flags: DeliverabilityFlags,
  endpoint: string,
): Promise<DeliverabilityReport> {
  if (!flags.from) throw new DeliverabilityInputError('--deliverability needs --from ADDRESS');
  if (!!flags.dkimSelector !== !!flags.dkimKeyFile)
    throw new DeliverabilityInputError('--dkim-selector and --dkim-key-file go together');
  let privateKey: string | undefined;
  if (flags.dkimKeyFile) {
    try {
      privateKey = await readFile(flags.dkimKeyFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new DeliverabilityInputError(`cannot read --dkim-key-file ${flags.dkimKeyFile}: ${code}`);
    }
  }
  const domain = flags.dkimDomain ?? fromDomain(flags.from);
  return checkDeliverability({
    from: flags.from,
    serverHost: endpointHost(endpoint),
    resolver: createDnsResolver({ servers: flags.dnsServer ?? [] }),
    ...(privateKey && flags.dkimSelector
      ? { dkim: { selector: flags.dkimSelector, domain, privateKey } }
      : {}),
  });
}

/** Text for a person: the verdict, each record found, and every record to publish. */
export function formatDeliverability(r: DeliverabilityReport): string {
  const mark = r.status === 'True' ? '✔' : r.status === 'False' ? '✘' : '?';
  const lines = [`${mark} Deliverable ${r.reason} (${r.domain})`];
  for (const [label, rec] of [
    ['spf', r.spf],
    ['dkim', r.dkim],
    ['dmarc', r.dmarc],
  ] as const) {
    if (!rec) continue;
    lines.push(`  ${label.padEnd(6)}${rec.result}: ${rec.meaning}`);
    lines.push(`        ${rec.name}${rec.record ? ` "${rec.record}"` : ' (no record)'}`);
  }
  for (const f of r.findings) {
    lines.push(`  ${f.reason}: ${f.message.split(' Publish TXT ')[0]}`);
    if (f.publish) lines.push(`    publish: ${publishText(f.publish)}`);
  }
  return `${lines.join('\n')}\n`;
}
