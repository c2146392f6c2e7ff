/**
 * The result of a probe: what `mailroom probe --output json` prints and what the controller turns
 * into status. It never holds a credential or raw server text that could echo one.
 *
 * @module
 */
import type { ProbeReason } from './reasons.ts';
import type { Security, UriWarning } from './uri.ts';

export interface CertificateFacts {
  /** Subject CN, followed by the subject alternative names. */
  subject: string;
  issuer: string;
  /** RFC 3339. */
  notAfter: string;
  /** Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  sha256: string;
  /** DNS and IP names the certificate is valid for. */
  altNames: string[];
}

export interface TlsFacts {
  version: string;
  cipher: string;
  certificate?: CertificateFacts;
}

export type ProbeWarningCode = UriWarning['code'] | 'CertificateExpiringSoon';

export interface ProbeWarning {
  code: ProbeWarningCode;
  message: string;
}

/** The steps of a probe, in order; `step` in a result names the one that ended it. */
export type ProbeStep =
  | 'parse'
  | 'dns'
  | 'connect'
  | 'tls'
  | 'greeting'
  | 'ehlo'
  | 'starttls'
  | 'auth'
  | 'sender'
  | 'quit';

export interface ProbeResult {
  ok: boolean;
  reason: ProbeReason;
  /** What happened and what to try, for people. */
  message: string;
  /** The step that ended the probe (`quit` when it completed). */
  step: ProbeStep;
  /** Absent only when the URI did not parse. */
  security?: Security;
  /** `host:port`; absent only when the URI did not parse. */
  endpoint?: string;
  durationMs: number;
  greeting?: string;
  extensions: string[];
  authMechanisms: string[];
  /**
   * The SMTP reply code that ended a failed probe, when a reply ended it (535 to AUTH, 530 to
   * MAIL FROM): 4xx is temporary, 5xx permanent. Only the code: the text may echo credentials.
   */
  replyCode?: number;
  /** The AUTH mechanism used, when AUTH succeeded. */
  authMechanism?: string;
  tls?: TlsFacts;
  warnings: ProbeWarning[];
  /**
   * The conversation (`C:`/`S:` lines, `*` events), credentials replaced by `***`: only when asked
   * for (`mailroom probe --transcript`); the controller never asks, so it never reaches status.
   */
  transcript?: string[];
}
