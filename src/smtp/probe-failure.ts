/**
 * How a probe ends when it fails: a {@link ProbeFailure} with one reason of the closed set, built from
 * what the socket reported at a given step, with a message that says what to change.
 *
 * Messages go into status, Events and logs, so they never quote what the server sent: replies are
 * shown by their codes, peers that are not SMTP by the name of their protocol.
 *
 * @module
 */
import type { Reply } from './connection.ts';
import { WireError } from './connection.ts';
import { classifyPeer, describePeer, hintForPeer, type PeerKind } from './peer-kind.ts';
import type { ProbeStep } from './probe-result.ts';
import type { ProbeReason } from './reasons.ts';
import { clientCertificateMessage, isClientCertificateAlert } from './tls-diagnosis.ts';
import { endpointAddress, type SmtpEndpoint } from './uri.ts';

/** A probe outcome other than success, thrown by a step and turned into the result once. */
export class ProbeFailure extends Error {
  readonly reason: ProbeReason;
  /** The step to report, when it is not the one under way (a DNS failure seen at connect). */
  readonly step: ProbeStep | undefined;
  /** The reply code that ended the probe, when a reply did (4xx temporary, 5xx permanent). */
  readonly replyCode: number | undefined;
  constructor(reason: ProbeReason, message: string, step?: ProbeStep, replyCode?: number) {
    super(message);
    this.reason = reason;
    this.step = step;
    this.replyCode = replyCode;
  }
}

/** Where a failure happened: enough to name it. */
export interface FailureContext {
  endpoint: SmtpEndpoint;
  step: ProbeStep;
  /** The first bytes the peer sent on the current socket (for classification only). */
  head: Buffer;
}

export function unexpected(err: unknown): ProbeFailure {
  const msg = err instanceof Error ? err.message : String(err);
  return new ProbeFailure('UnexpectedGreeting', `the probe failed unexpectedly: ${msg}`);
}

/**
 * The reply code and enhanced status code (RFC 3463), never the text: a server's text may echo what
 * the client sent (credentials) or name internal hosts, and messages go into status and Events.
 */
export function codes(r: Reply): string {
  const enhanced = /^[245]\.\d{1,3}\.\d{1,3}\b/.exec(r.lines[0] ?? '')?.[0];
  return enhanced ? `${r.code} ${enhanced}` : String(r.code);
}

export function stepLabel(step: ProbeStep): string {
  const labels: Record<ProbeStep, string> = {
    parse: 'while parsing',
    dns: 'while resolving the host',
    connect: 'while connecting',
    tls: 'during the TLS handshake',
    greeting: 'before its greeting',
    ehlo: 'to EHLO',
    starttls: 'to STARTTLS',
    auth: 'to AUTH',
    sender: 'to MAIL FROM',
    quit: 'to QUIT',
  };
  return labels[step];
}

/** The failure for a peer that speaks `kind` instead of SMTP. */
export function notSmtp(
  c: FailureContext,
  kind: PeerKind,
  how = `answered ${stepLabel(c.step)}`,
): ProbeFailure {
  return new ProbeFailure(
    'UnexpectedGreeting',
    `${endpointAddress(c.endpoint)} ${describePeer(kind)}, not SMTP (${how}): ${hintForPeer(kind, c.endpoint.scheme)}`,
  );
}

const DNS_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'ENODATA',
  'ESERVFAIL',
  'EREFUSED',
  'ETIMEOUT',
  'ECONNREFUSED_DNS',
]);

/** The failure for a TCP connection that could not be made. */
export function connectFailure(endpoint: SmtpEndpoint, err: NodeJS.ErrnoException): ProbeFailure {
  const where = endpointAddress(endpoint);
  const code = err.code ?? '';
  const nested = (err as { errors?: NodeJS.ErrnoException[] }).errors?.map((x) => x.code) ?? [];
  const all = [code, ...nested];
  if (all.some((c) => c && DNS_CODES.has(c))) {
    return new ProbeFailure(
      'DNSLookupFailed',
      `the host name ${endpoint.host} does not resolve (${code}): check its spelling and the cluster's DNS`,
      'dns',
    );
  }
  if (all.includes('ECONNREFUSED')) {
    return new ProbeFailure(
      'ConnectionRefused',
      `${where} refused the connection: nothing listens there; check the port (587 for smtp://, 465 for smtps://)`,
    );
  }
  if (all.includes('ETIMEDOUT')) {
    return new ProbeFailure(
      'ConnectionTimeout',
      `no TCP connection to ${where} (${code}): check the host and port, and the firewall`,
    );
  }
  return new ProbeFailure(
    'ConnectionRefused',
    `cannot connect to ${where} (${code || err.message}): the host or network is unreachable`,
  );
}

/** The failure for a wait on the peer that ended without a usable reply. */
export function wireFailure(c: FailureContext, err: unknown): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  if (!(err instanceof WireError)) return unexpected(err);
  const where = stepLabel(c.step);
  const e = c.endpoint;
  if (isClientCertificateAlert(err.code)) {
    // TLS 1.3 finishes the handshake before the server judges the client's certificate: the refusal
    // arrives as an alert on the first read after it.
    return new ProbeFailure(
      'TLSHandshakeFailed',
      `${clientCertificateMessage(endpointAddress(e))} (TLS 1.3 reports this after the handshake, on the first read)`,
      e.scheme === 'smtps' ? 'tls' : 'starttls',
    );
  }
  switch (err.failure) {
    case 'timeout': {
      const hint =
        c.step === 'greeting' && e.scheme === 'smtp' && e.port === 465
          ? ': port 465 expects TLS first, use smtps://'
          : c.step === 'greeting'
            ? ': is this an SMTP port? (587 STARTTLS, 465 implicit TLS, 25 relay)'
            : '';
      return new ProbeFailure(
        'ConnectionTimeout',
        `connected to ${endpointAddress(e)}, but the server sent no answer ${where} within the time limit${hint}`,
      );
    }
    case 'garbage':
    case 'overflow': {
      if (c.step === 'auth')
        return new ProbeFailure(
          'AuthenticationFailed',
          `the server answered ${where} with something that is not an SMTP reply`,
        );
      const kind = classifyPeer(c.head);
      if (kind && kind !== 'SMTP') return notSmtp(c, kind);
      return new ProbeFailure(
        'UnexpectedGreeting',
        `the server answered ${where} with something that is not SMTP: is this an SMTP port${e.scheme === 'smtp' ? ', or does it expect TLS first (smtps://)' : ''}?`,
      );
    }
    default: {
      const kind = c.step === 'greeting' ? classifyPeer(c.head) : undefined;
      if (kind && kind !== 'SMTP') return notSmtp(c, kind);
      const reason: ProbeReason =
        c.step === 'auth'
          ? 'AuthenticationFailed'
          : c.step === 'sender'
            ? 'SenderRejected'
            : 'UnexpectedGreeting';
      return new ProbeFailure(
        reason,
        `the server closed the connection ${where}${err.code ? ` (${err.code})` : ''}: it may be refusing this client (rate limit, IP block) or not speak SMTP on this port`,
      );
    }
  }
}

/** The failure for a STARTTLS command answered with something other than 220. */
export function starttlsRefused(r: Reply): ProbeFailure {
  const temporary = r.code >= 400 && r.code < 500;
  return new ProbeFailure(
    'STARTTLSNotOffered',
    temporary
      ? `the server offers STARTTLS but answered it with ${codes(r)} (temporary): its TLS is not working, most often a missing or unreadable certificate or key on the server; fix the server's TLS setup (Mailroom never falls back to cleartext; only on a trusted network, ?disable_starttls=true)`
      : `the server offers STARTTLS but refused it with ${codes(r)} (permanent): it announces STARTTLS yet will not start it for this client; fix it on the server, or use smtps:// on port 465 if the server offers implicit TLS`,
  );
}
