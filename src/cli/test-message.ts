/**
 * One test message through exactly the config a sidecar would use: composed by the sidecar's own
 * `composeJson` (From, headers, Message-ID from the config), sent through nodemailer with the
 * sidecar's transport options (security mode, trusted CAs, EHLO name, DKIM signing).
 *
 * A failure is named with the probe's reasons: a refused login or sender from the reply itself, a
 * connection or TLS failure by running the probe's diagnosis (without AUTH, so a failed login is
 * never repeated), a refused recipient or message by its reply codes.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import { redactSecrets } from '../runtime/redact.ts';
import { composeJson } from '../sidecar/compose.ts';
import type { ActiveConfig } from '../sidecar/config.ts';
import { probe } from '../smtp/probe.ts';
import type { ProbeReason } from '../smtp/reasons.ts';
import { nodemailerLogger, Transcript } from '../smtp/transcript.ts';
import { transportOptions } from '../smtp/transport.ts';
import { endpointAddress } from '../smtp/uri.ts';

/** How a test send ended: `Sent`, a probe reason, or a refusal after MAIL FROM. */
export type SendReason = 'Sent' | ProbeReason | 'RecipientRejected' | 'MessageRejected';

export interface SendResult {
  ok: boolean;
  reason: SendReason;
  /** What happened and what to try. */
  message: string;
  /** The server's final reply to the message (with the queue id), when it was accepted. */
  response?: string;
  messageId: string;
  endpoint: string;
  security: string;
  from: string;
  to: string[];
  durationMs: number;
  transcript?: string[];
}

export interface TestMessage {
  to: string[];
  subject?: string;
  text?: string;
  /** Time limit for connecting and each wait; default 30 s. */
  timeoutMs?: number;
  transcript?: boolean;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** Sends one message; never rejects for a server-side failure (the result says it). */
export async function sendTestMessage(active: ActiveConfig, m: TestMessage): Promise<SendResult> {
  const started = performance.now();
  const { endpoint, config } = active;
  const redact = (text: string) => redactSecrets(text, [endpoint.password, endpoint.username]);
  const transcript = m.transcript ? new Transcript([endpoint.password, endpoint.username]) : undefined;
  const timeout = m.timeoutMs ?? 30_000;
  const options = {
    ...transportOptions(endpoint, {
      ...(config.smtp.localName ? { localName: config.smtp.localName } : {}),
      ...(config.smtp.ca ? { ca: config.smtp.ca } : {}),
      ...(config.dkim ? { dkim: config.dkim } : {}),
      maxConnections: 1,
      connectionTimeoutMs: timeout,
      greetingTimeoutMs: timeout,
      socketTimeoutMs: timeout,
    }),
    ...(transcript ? { logger: nodemailerLogger(transcript), debug: true } : {}),
  };
  const id = randomUUID();
  const now = Date.now();
  const subject = m.subject ?? 'Mailroom test message';
  const text =
    m.text ??
    `A test message sent with "mailroom send" through ${endpointAddress(endpoint)} (${endpoint.security}), composed${config.dkim ? ' and DKIM-signed' : ''} as the sidecar of ${config.sender.namespace ? `${config.sender.namespace}/` : ''}${config.sender.name} would, at ${new Date(now).toISOString()}.\n`;
  const composed = composeJson(
    { to: m.to, cc: [], bcc: [], subject, text, headers: {} },
    m.to,
    id,
    now,
    config,
  );
  const base = {
    messageId: composed.messageId,
    endpoint: endpointAddress(endpoint),
    security: endpoint.security,
    from: config.from.address,
    to: m.to,
  };
  const transporter = nodemailer.createTransport(options);
  transporter.on('error', () => {});
  let result: SendResult;
  try {
    const info = await transporter.sendMail(composed);
    const response = redact(String(info.response ?? ''));
    result = {
      ok: true,
      reason: 'Sent',
      message: `the server accepted the message: ${response}`,
      response,
      ...base,
      durationMs: 0,
    };
  } catch (err) {
    const failure = await explain(active, err as SmtpError, timeout);
    transcript?.event(`send failed: ${failure.reason}`);
    result = { ok: false, ...failure, message: redact(failure.message), ...base, durationMs: 0 };
  } finally {
    transporter.close();
  }
  result.durationMs = Math.round(performance.now() - started);
  if (transcript) result.transcript = transcript.lines();
  return result;
}

/** Reply codes only: a server's text may echo credentials or name internal hosts. */
function replyCodes(err: SmtpError): string {
  const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(err.response ?? '')?.[1];
  return `${err.responseCode ?? '?'}${enhanced ? ` ${enhanced}` : ''}`;
}

async function explain(
  active: ActiveConfig,
  err: SmtpError,
  timeoutMs: number,
): Promise<{ reason: SendReason; message: string }> {
  const command = (err.command ?? '').toUpperCase();
  const temporary =
    (err.responseCode ?? 0) >= 400 && (err.responseCode ?? 0) < 500 ? ' (temporary: try again later)' : '';
  if (err.code === 'EAUTH') {
    return {
      reason: 'AuthenticationFailed',
      message: `the server rejected the login with ${replyCodes(err)}${temporary}: check the user name and password (percent-encoded in the URI), and whether the provider wants an app password or API key`,
    };
  }
  if (command.startsWith('MAIL')) {
    return {
      reason: 'SenderRejected',
      message: `the server refused the sender ${active.config.from.address} with ${replyCodes(err)}${temporary}: the account may not send as this address or domain`,
    };
  }
  if (command.startsWith('RCPT') || err.code === 'EENVELOPE') {
    return {
      reason: 'RecipientRejected',
      message: `the server refused the recipient with ${replyCodes(err)}${temporary}: check the address, and whether the account may relay to it`,
    };
  }
  if (command === 'DATA' || command.startsWith('DATA') || err.code === 'EMESSAGE') {
    return {
      reason: 'MessageRejected',
      message: `the server refused the message with ${replyCodes(err)}${temporary} (content, size or policy: a DKIM or SPF failure is a common cause)`,
    };
  }
  // Before any message was under way: the probe names the fault (never logging in again).
  const diagnosis = await probe(active.endpoint, {
    authenticate: false,
    timeoutMs: Math.min(timeoutMs, 15_000),
    ...(active.config.smtp.localName ? { localName: active.config.smtp.localName } : {}),
    ...(active.config.smtp.ca ? { ca: active.config.smtp.ca } : {}),
  });
  if (!diagnosis.ok) return { reason: diagnosis.reason, message: diagnosis.message };
  return {
    reason: 'UnexpectedGreeting',
    message: `sending failed (${err.code ?? 'error'}${err.responseCode ? ` ${replyCodes(err)}` : ''}) although a probe right after it passed: the server may limit connections or rates; try again`,
  };
}
