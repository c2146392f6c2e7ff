/**
 * The state of one probe run and the plumbing its steps share: options, the deadline, TCP dialling,
 * commands whose failures become {@link ProbeFailure}s.
 *
 * @module
 */
import { connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { Reply, SmtpConnection } from './connection.ts';
import {
  connectFailure,
  type FailureContext,
  ProbeFailure,
  stepLabel,
  wireFailure,
} from './probe-failure.ts';
import type { ProbeResult, ProbeStep } from './probe-result.ts';
import { lookupVia } from './resolver.ts';
import type { Transcript } from './transcript.ts';
import { endpointAddress, type SmtpEndpoint } from './uri.ts';

export interface ProbeOptions {
  /** EHLO name; default {@link defaultLocalName}. */
  localName?: string;
  /** Time limit for the whole probe; default 10 s. Each step gets what is left. */
  timeoutMs?: number;
  /** Log in with the URI's credentials when it has them; default true. */
  authenticate?: boolean;
  /** Send `MAIL FROM:<from>` then `RSET`; needs `from`. */
  checkSender?: boolean;
  from?: string;
  /** Extra trusted CA certificates (PEM bundle). */
  ca?: string;
  signal?: AbortSignal;
  /** DNS servers (`host:port`) to resolve the host with, instead of the system resolver. */
  dnsServers?: string[];
  /** Clock for certificate dates; tests pin it. */
  now?: () => Date;
  /** Record the conversation (redacted) into `result.transcript`. */
  transcript?: boolean;
}

/** The EHLO name used when none is configured: the host name, never "localhost". */
export function defaultLocalName(): string {
  const name = hostname().toLowerCase();
  return name && !/^localhost(\.|$)/.test(name) && /^[a-z0-9.-]+$/.test(name) ? name : 'mailroom.invalid';
}

export interface Session {
  endpoint: SmtpEndpoint;
  transcript?: Transcript;
  opts: Required<Pick<ProbeOptions, 'timeoutMs' | 'authenticate' | 'checkSender'>> & ProbeOptions;
  deadline: number;
  step: ProbeStep;
  conn?: SmtpConnection;
  result: ProbeResult;
  notes: string[];
}

export function remaining(s: Session): number {
  if (s.opts.signal?.aborted) throw new ProbeFailure('ConnectionTimeout', 'the probe was cancelled');
  const left = s.deadline - Date.now();
  if (left <= 0)
    throw new ProbeFailure(
      'ConnectionTimeout',
      `the probe ran out of time (${s.opts.timeoutMs} ms) before ${stepLabel(s.step)}`,
    );
  return left;
}

/** A fresh TCP connection to the endpoint for a diagnostic look, bounded by `timeoutMs`. */
export function dial(s: Session, timeoutMs: number): Promise<Socket> {
  const { host, port } = s.endpoint;
  return new Promise((resolve, reject) => {
    const lookup = s.opts.dnsServers?.length ? { lookup: lookupVia(s.opts.dnsServers) } : {};
    const socket = netConnect({ host, port, autoSelectFamily: true, ...lookup });
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function connectTcp(s: Session): Promise<Socket> {
  const { host, port } = s.endpoint;
  s.step = 'connect';
  const timeout = remaining(s);
  return new Promise((resolve, reject) => {
    const lookup = s.opts.dnsServers?.length ? { lookup: lookupVia(s.opts.dnsServers) } : {};
    const socket = netConnect({ host, port, autoSelectFamily: true, ...lookup });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ProbeFailure(
          'ConnectionTimeout',
          `no TCP connection to ${endpointAddress(s.endpoint)} within ${timeout} ms: check the host and port, and that a firewall lets this cluster reach it (many cloud networks block port 25)`,
        ),
      );
    }, timeout);
    const onAbort = () => socket.destroy(new Error('cancelled'));
    s.opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      s.opts.signal?.removeEventListener('abort', onAbort);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.opts.signal?.removeEventListener('abort', onAbort);
      reject(connectFailure(s.endpoint, err));
    });
  });
}

export async function command(s: Session, line: string, secret = false): Promise<Reply> {
  try {
    return await s.conn!.command(line, remaining(s), secret);
  } catch (err) {
    throw wireFailure(context(s), err);
  }
}

export function context(s: Session): FailureContext {
  return { endpoint: s.endpoint, step: s.step, head: s.conn?.head ?? Buffer.alloc(0) };
}
