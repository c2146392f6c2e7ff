/**
 * DKIM checked the way a receiver would see it: a canary message is signed with the key the sidecar
 * signs with, then verified by mailauth against the published key. Signing and verifying (rather
 * than comparing key text) catches every way the record can be wrong: missing, another key,
 * revoked (`p=`), a wrong `k=`, a key too short for receivers.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { dkimRecordName, dkimRecordValue, loadPrivateKey } from './dkim-key.ts';
import { dkimSign, dkimVerify } from './mailauth.ts';
import type { Finding, RecordReport } from './reasons.ts';
import type { DnsResolver } from './resolver.ts';

/** The signing identity: `spec.dkim` with its key read from the Secret. */
export interface DkimIdentity {
  selector: string;
  domain: string;
  /** PEM private key. */
  privateKey: string;
}

/** Outcome of the DKIM check. */
export interface DkimOutcome {
  report: RecordReport;
  finding?: Finding;
  /** The signature verified: DMARC may count `domain` as DKIM-authenticated. */
  pass: boolean;
}

/** A message that is never sent, only signed and verified. */
function canary(from: string, domain: string): string {
  return [
    `From: <${from}>`,
    `To: <postmaster@${domain}>`,
    'Subject: Mailroom DKIM check',
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${randomUUID()}@mailroom.invalid>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'This message checks that the published DKIM key matches the signing key. It is never sent.',
    '',
  ].join('\r\n');
}

/** Signs a canary with `identity` and verifies it through `resolver`. */
export async function checkDkim(
  from: string,
  identity: DkimIdentity,
  resolver: DnsResolver,
): Promise<DkimOutcome> {
  const name = dkimRecordName(identity.selector, identity.domain);
  const publish = { name, value: dkimRecordValue(loadPrivateKey(identity.privateKey)) };
  const message = canary(from, identity.domain);
  const signer = {
    signingDomain: identity.domain,
    selector: identity.selector,
    privateKey: identity.privateKey,
  };
  const signed = await dkimSign(message, { ...signer, signatureData: [signer] });
  if (!signed.signatures) {
    const why = signed.errors.map((e) => e.err.message).join('; ') || 'unknown error';
    throw new Error(`cannot sign with the DKIM key: ${why}`);
  }
  const verified = await dkimVerify(signed.signatures + message, { resolver: resolver as never });
  const result = verified.results[0];
  const verdict = result?.status.result ?? 'none';
  const comment = result?.status.comment;
  const record = result?.rr;
  const report = (meaning: string): RecordReport => ({
    name,
    ...(record ? { record } : {}),
    result: verdict,
    meaning,
  });

  if (verdict === 'pass') {
    return {
      report: report('the published key verifies what the sidecar signs: DKIM passes at receivers'),
      pass: true,
    };
  }
  if (verdict === 'temperror') {
    return {
      report: report('the DNS lookup failed: receivers cannot verify signatures'),
      pass: false,
      finding: {
        reason: 'DNSLookupFailed',
        message: `DKIM key lookup at ${name} failed: ${comment ?? 'no answer from DNS'}.`,
      },
    };
  }
  if (verdict === 'neutral' && comment === 'no key') {
    return {
      report: report('no key published: receivers cannot verify the signature, DKIM fails'),
      pass: false,
      finding: {
        reason: 'DKIMKeyMissing',
        message: `No DKIM key is published for selector "${identity.selector}" of ${identity.domain}. Publish TXT ${name} "${publish.value}".`,
        publish,
      },
    };
  }
  const why = verdict === 'fail' ? 'it is not the key the sidecar signs with' : (comment ?? verdict);
  return {
    report: report(`the published key does not verify the sidecar's signature (${why}): DKIM fails`),
    pass: false,
    finding: {
      reason: 'DKIMKeyMismatch',
      message: `The DKIM key published at ${name} does not verify the sidecar's signature (${why}). Publish TXT ${name} "${publish.value}" (replacing the current record), or point spec.dkim.privateKeySecretRef at the key that record was made from.`,
      publish,
    },
  };
}
