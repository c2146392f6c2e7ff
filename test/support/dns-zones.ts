/**
 * DNS zones for deliverability tests, served by a real dnsmasq on loopback: one From domain per case
 * of issue 7, and a DNS server that never answers (for `DNSLookupFailed`).
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { dkimRecordName, dkimRecordValue, generateDkimKey } from '../../src/deliverability/dkim-key.ts';
import { startDnsmasq, type TestDns } from './dnsmasq.ts';

/** The SMTP server's name in every zone, and its address (where the test SMTP servers listen). */
export const SMTP_HOST = 'smtp.mailroom.test';
export const SMTP_IP = '127.0.0.1';
export const SELECTOR = 'mailroom';

/** The From domain of each case. */
export const DOMAINS = {
  aligned: 'aligned.mailroom.test',
  noSpf: 'nospf.mailroom.test',
  spfExcludes: 'spfexcl.mailroom.test',
  spfLookups: 'spflookups.mailroom.test',
  noDmarc: 'nodmarc.mailroom.test',
  pNone: 'pnone.mailroom.test',
  dkimMissing: 'dkimmissing.mailroom.test',
  dkimMismatch: 'dkimmismatch.mailroom.test',
  /** Signs as another domain and fails SPF: nothing aligns. */
  notAligned: 'notaligned.mailroom.test',
} as const;

/** The signing domain used by the notAligned case (a domain of its own, with its key). */
export const OTHER_SIGNER = 'other-signer.example-mailroom.test';

/** Zones plus the keys they publish. */
export interface DeliverabilityDns extends TestDns {
  /** The key the sidecar signs with (published in every zone except dkimMissing/dkimMismatch). */
  signingKey: string;
  /** Another key (what dkimMismatch publishes). */
  otherKey: string;
}

const SPF_OK = `v=spf1 a:${SMTP_HOST} -all`;
const DMARC_REJECT = 'v=DMARC1; p=reject';

/** Starts dnsmasq serving a zone per case. */
export async function startDeliverabilityDns(): Promise<DeliverabilityDns> {
  const signing = generateDkimKey({ selector: SELECTOR, domain: DOMAINS.aligned });
  const other = generateDkimKey({ selector: SELECTOR, domain: DOMAINS.aligned });
  const key = dkimRecordValue(signing.privateKeyPem);
  const dkim = (domain: string, value = key) => ({ [dkimRecordName(SELECTOR, domain)]: value });
  const txt: Record<string, string | string[]> = {
    // aligned SPF + DKIM + DMARC
    [DOMAINS.aligned]: SPF_OK,
    ...dkim(DOMAINS.aligned),
    [`_dmarc.${DOMAINS.aligned}`]: DMARC_REJECT,
    // no SPF (DKIM and DMARC fine)
    ...dkim(DOMAINS.noSpf),
    [`_dmarc.${DOMAINS.noSpf}`]: DMARC_REJECT,
    // SPF that authorizes only someone else
    [DOMAINS.spfExcludes]: 'v=spf1 ip4:192.0.2.0/24 -all',
    ...dkim(DOMAINS.spfExcludes),
    [`_dmarc.${DOMAINS.spfExcludes}`]: DMARC_REJECT,
    // SPF with 11 includes: over the 10-lookup limit before the server is ever matched
    [DOMAINS.spfLookups]: `v=spf1 ${Array.from({ length: 11 }, (_, i) => `include:i${i}.${DOMAINS.spfLookups}`).join(' ')} a:${SMTP_HOST} -all`,
    ...Object.fromEntries(
      Array.from({ length: 11 }, (_, i) => [`i${i}.${DOMAINS.spfLookups}`, 'v=spf1 ip4:192.0.2.1 -all']),
    ),
    ...dkim(DOMAINS.spfLookups),
    [`_dmarc.${DOMAINS.spfLookups}`]: DMARC_REJECT,
    // no DMARC
    [DOMAINS.noDmarc]: SPF_OK,
    ...dkim(DOMAINS.noDmarc),
    // p=none
    [DOMAINS.pNone]: SPF_OK,
    ...dkim(DOMAINS.pNone),
    [`_dmarc.${DOMAINS.pNone}`]:
      'v=DMARC1; p=none; rua=mailto:dmarc@pnone.mailroom.test,mailto:x@pnone.mailroom.test',
    // DKIM key missing
    [DOMAINS.dkimMissing]: SPF_OK,
    [`_dmarc.${DOMAINS.dkimMissing}`]: DMARC_REJECT,
    // DKIM key not the signing key
    [DOMAINS.dkimMismatch]: SPF_OK,
    ...dkim(DOMAINS.dkimMismatch, dkimRecordValue(other.privateKeyPem)),
    [`_dmarc.${DOMAINS.dkimMismatch}`]: DMARC_REJECT,
    // nothing aligned: SPF excludes the server, DKIM signs as another domain
    [DOMAINS.notAligned]: 'v=spf1 ip4:192.0.2.0/24 -all',
    [`_dmarc.${DOMAINS.notAligned}`]: 'v=DMARC1; p=quarantine',
    ...dkim(OTHER_SIGNER),
  };
  // localhost too: e2e tests reach their SMTP servers by that name, and the check resolves it here.
  const dns = await startDnsmasq({ [SMTP_HOST]: SMTP_IP, localhost: SMTP_IP }, { txt, local: ['test'] });
  return { ...dns, signingKey: signing.privateKeyPem, otherKey: other.privateKeyPem };
}

/** A DNS server that reads every query and never answers: lookups through it time out. */
export async function startSilentDns(): Promise<TestDns> {
  const sock = createSocket('udp4');
  sock.on('message', () => {});
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return {
    address: `127.0.0.1:${sock.address().port}`,
    close: async () => {
      sock.close();
    },
  };
}
