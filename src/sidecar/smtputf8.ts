/**
 * SMTPUTF8: an address whose local part is not ASCII (`josé@example.org`) can only be sent to an
 * upstream that offers the SMTPUTF8 extension (RFC 6531); a domain is always sent in its ASCII
 * (IDNA) form and needs nothing.
 *
 * The sidecar learns what the upstream offers from its EHLO reply, with the same probe the
 * controller uses (connect, TLS as configured, EHLO; no AUTH, no mail), as soon as a config is
 * applied, and again from every message it sends. Knowing it early lets the doors refuse such an
 * address at once instead of accepting mail that can never go out; while it is not known (the
 * upstream could not be reached yet), mail is accepted and the send learns it first.
 *
 * @module
 */
import { endpointAddress } from '../smtp/uri.ts';
import type { ActiveConfig } from './config.ts';

/** Whether the local part of `address` (the part before the last `@`) is printable ASCII. */
export function asciiLocalPart(address: string): boolean {
  return /^[\x20-\x7e]*$/.test(address.slice(0, Math.max(0, address.lastIndexOf('@'))));
}

/** What the sidecar knows of the upstream's SMTPUTF8 for one config. */
export interface Smtputf8State {
  /** Offered or not; undefined until an EHLO reply has told. */
  smtputf8?: boolean;
  /** Why it is not known, when a probe could not tell. */
  unknownBecause?: string;
  /** The probe under way, if one is. */
  learning?: Promise<void>;
}

/**
 * Probes the upstream of `active` once (concurrent callers share the probe) and records in `state`
 * whether it offers SMTPUTF8, or why that is not known.
 */
export function learnSmtputf8(state: Smtputf8State, active: ActiveConfig, timeoutMs = 10_000): Promise<void> {
  if (state.smtputf8 !== undefined) return Promise.resolve();
  state.learning ??= (async () => {
    const { config, endpoint } = active;
    // The probe's code loads with the first question, after start-up.
    const { probe } = await import('../smtp/probe.ts');
    const r = await probe(endpoint, {
      authenticate: false,
      timeoutMs,
      ...(config.smtp.localName ? { localName: config.smtp.localName } : {}),
      ...(config.smtp.ca ? { ca: config.smtp.ca } : {}),
    });
    // A reply to a message sent meanwhile may have told already: it is newer.
    if (state.smtputf8 !== undefined) return;
    if (r.ok) {
      state.smtputf8 = r.extensions.some((x) => /^SMTPUTF8\b/i.test(x));
      delete state.unknownBecause;
    } else state.unknownBecause = `${endpointAddress(endpoint)} could not be asked: ${r.message}`;
  })().finally(() => {
    delete state.learning;
  });
  return state.learning;
}

/** The refusal for an address that needs SMTPUTF8 when the upstream does not offer it. */
export function smtputf8Refusal(address: string): string {
  return `the local part of ${address} is not ASCII, which needs the SMTPUTF8 extension, and the upstream server does not offer SMTPUTF8: use an address with an ASCII local part`;
}
