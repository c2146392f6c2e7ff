/**
 * SMTP connection URIs: the "custom SMTP server" grammar of identity platforms, parsed into one
 * normalized, typed endpoint.
 *
 * | URI                                   | security              |
 * |---------------------------------------|-----------------------|
 * | `smtp://u:p@host:587/`                | `StartTLS`            |
 * | `smtp://…/?skip_ssl_verify=true`      | `StartTLSInsecure`    |
 * | `smtp://…/?disable_starttls=true`     | `Plaintext`           |
 * | `smtps://u:p@host:465/`               | `ImplicitTLS`         |
 * | `smtps://…/?skip_ssl_verify=true`     | `ImplicitTLSInsecure` |
 * | `…?server_name=mail.example.com`      | verify against that name |
 *
 * The lexical split is done here rather than by WHATWG `URL`, because `URL` silently re-reads a
 * password holding `/ ? # @` as path, query or fragment; this parser names the character instead.
 *
 * @module
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { REDACTED } from '../runtime/redact.ts';

export const SECURITY_MODES = [
  'StartTLS',
  'StartTLSInsecure',
  'Plaintext',
  'ImplicitTLS',
  'ImplicitTLSInsecure',
] as const;
/** How the connection is protected, as shown in `status.security`. */
export type Security = (typeof SECURITY_MODES)[number];

/** A parsed, normalized SMTP endpoint. `password` is a secret: print it only through {@link redactedUri}. */
export interface SmtpEndpoint {
  scheme: 'smtp' | 'smtps';
  /** Host name (lower case) or IP address (IPv6 without brackets). */
  host: string;
  port: number;
  security: Security;
  /** `server_name`, when the certificate name differs from `host`. */
  serverName?: string;
  username?: string;
  password?: string;
}

/** Parts of a URI a rejection can point at. */
export type UriField =
  | 'uri'
  | 'scheme'
  | 'user'
  | 'password'
  | 'host'
  | 'port'
  | 'path'
  | 'fragment'
  | `query.${string}`
  | 'query';

/** Why a URI was refused: which part, what is wrong, what would be valid. Never holds the password. */
export class InvalidUriError extends Error {
  readonly reason = 'InvalidURI' as const;
  readonly field: UriField;
  constructor(field: UriField, message: string) {
    super(message);
    this.name = 'InvalidUriError';
    this.field = field;
  }
}

export type UriWarningCode =
  | 'ImplicitTLSOnSubmissionPort'
  | 'StartTLSOnImplicitTLSPort'
  | 'Cleartext'
  | 'CredentialsInCleartext'
  | 'CertificateNotVerified';

/** A likely mistake or a weakened setting: reported, not refused. */
export interface UriWarning {
  code: UriWarningCode;
  message: string;
}

export interface ParsedUri {
  endpoint: SmtpEndpoint;
  warnings: UriWarning[];
}

export const DEFAULT_PORTS = { smtp: 587, smtps: 465 } as const;
export const QUERY_PARAMETERS = ['skip_ssl_verify', 'disable_starttls', 'server_name'] as const;

const ESCAPES: Record<string, string> = { '/': '%2F', '?': '%3F', '#': '%23', '@': '%40', ':': '%3A' };

const boolParam = (name: string) =>
  z.enum(['true', 'false', '1', '0'], {
    error: (iss) =>
      `query parameter ${name}=${String(iss.input).slice(0, 20)} is not a boolean: use true, false, 1 or 0`,
  });

const hostnamePattern =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

const queryParamsSchema = z.strictObject(
  {
    skip_ssl_verify: boolParam('skip_ssl_verify').optional(),
    disable_starttls: boolParam('disable_starttls').optional(),
    server_name: z
      .string()
      .transform((s) => s.toLowerCase())
      .refine((s) => hostnamePattern.test(s) || isIP(s) !== 0, {
        error: 'query parameter server_name must be a DNS name such as mail.example.com',
      })
      .optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown query parameter ${iss.keys.map((k) => `"${k.slice(0, 40)}"`).join(', ')}: known parameters are ${QUERY_PARAMETERS.join(', ')}`
        : undefined,
  },
);

const isTrue = (v: string | undefined) => v === 'true' || v === '1';

/**
 * Parses an SMTP connection URI. Throws {@link InvalidUriError} (and nothing else) for bad input.
 *
 * @example
 * parseSmtpUri('smtp://mailer:s3cret@smtp.example.com/').endpoint
 * // { scheme: 'smtp', host: 'smtp.example.com', port: 587, security: 'StartTLS', username: 'mailer', password: 's3cret' }
 */
export function parseSmtpUri(input: string): ParsedUri {
  if (typeof input !== 'string') throw new InvalidUriError('uri', 'the URI must be a string');
  const uri = input.trim();
  if (uri === '')
    throw new InvalidUriError('uri', 'the URI is empty: expected smtp://user:password@host:587/');

  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri);
  if (!schemeMatch) {
    throw new InvalidUriError(
      'scheme',
      'the URI must start with smtp:// or smtps:// (e.g. smtp://user:password@host:587/)',
    );
  }
  const scheme = schemeMatch[1]!.toLowerCase();
  if (scheme !== 'smtp' && scheme !== 'smtps') {
    throw new InvalidUriError(
      'scheme',
      `unknown scheme "${scheme.slice(0, 20)}": use smtp:// (STARTTLS or cleartext) or smtps:// (implicit TLS)`,
    );
  }
  const rest = uri.slice(schemeMatch[0].length);
  const authorityEnd = firstIndexOf(rest, ['/', '?', '#']);
  const authority = rest.slice(0, authorityEnd);
  checkReservedInUserinfo(rest, authority, authorityEnd);

  const atIndex = authority.lastIndexOf('@');
  const userinfo = atIndex >= 0 ? authority.slice(0, atIndex) : undefined;
  const hostport = atIndex >= 0 ? authority.slice(atIndex + 1) : authority;
  const { username, password } = parseUserinfo(userinfo);
  const { host, port } = parseHostPort(hostport, scheme);

  let tail = rest.slice(authorityEnd);
  const hashAt = tail.indexOf('#');
  if (hashAt >= 0) {
    throw new InvalidUriError(
      'fragment',
      'the URI has a #fragment, which SMTP URIs do not use: remove it, or write # in a password as %23',
    );
  }
  const queryAt = tail.indexOf('?');
  const path = queryAt >= 0 ? tail.slice(0, queryAt) : tail;
  tail = queryAt >= 0 ? tail.slice(queryAt + 1) : '';
  if (path !== '' && path !== '/') {
    throw new InvalidUriError(
      'path',
      `the URI has a path "${path.slice(0, 40)}": only "/" (or nothing) may follow host:port`,
    );
  }
  const query = parseQuery(tail);
  const skipVerify = isTrue(query.skip_ssl_verify);
  const disableStarttls = isTrue(query.disable_starttls);

  if (disableStarttls && scheme === 'smtps') {
    throw new InvalidUriError(
      'query.disable_starttls',
      'disable_starttls=true conflicts with smtps:// (implicit TLS has no STARTTLS step): use smtp://…?disable_starttls=true for cleartext, or drop the parameter',
    );
  }
  if (disableStarttls && skipVerify) {
    throw new InvalidUriError(
      'query.skip_ssl_verify',
      'skip_ssl_verify=true conflicts with disable_starttls=true (a cleartext connection has no certificate to skip): keep one of them',
    );
  }
  if (disableStarttls && query.server_name !== undefined) {
    throw new InvalidUriError(
      'query.server_name',
      'server_name conflicts with disable_starttls=true (a cleartext connection checks no certificate name): drop one of them',
    );
  }

  const security: Security =
    scheme === 'smtps'
      ? skipVerify
        ? 'ImplicitTLSInsecure'
        : 'ImplicitTLS'
      : disableStarttls
        ? 'Plaintext'
        : skipVerify
          ? 'StartTLSInsecure'
          : 'StartTLS';

  const endpoint: SmtpEndpoint = { scheme, host, port, security };
  if (query.server_name !== undefined) endpoint.serverName = query.server_name;
  if (username !== undefined) endpoint.username = username;
  if (password !== undefined) endpoint.password = password;
  return { endpoint, warnings: warningsFor(endpoint) };
}

/** Likely mistakes and weakened settings of an endpoint. */
export function warningsFor(e: SmtpEndpoint): UriWarning[] {
  const warnings: UriWarning[] = [];
  if (e.scheme === 'smtps' && e.port === 587) {
    warnings.push({
      code: 'ImplicitTLSOnSubmissionPort',
      message:
        'smtps:// on port 587: port 587 normally speaks STARTTLS; did you mean smtp://…:587/ (or smtps://…:465/)?',
    });
  }
  if (e.scheme === 'smtp' && e.port === 465) {
    warnings.push({
      code: 'StartTLSOnImplicitTLSPort',
      message:
        'smtp:// on port 465: port 465 normally expects TLS from the first byte; did you mean smtps://…:465/?',
    });
  }
  if (e.security === 'Plaintext') {
    warnings.push({
      code: 'Cleartext',
      message:
        'disable_starttls=true: mail is sent without any encryption, even if the server offers STARTTLS',
    });
    if (e.password !== undefined) {
      warnings.push({
        code: 'CredentialsInCleartext',
        message: 'the password is sent in cleartext because disable_starttls=true',
      });
    }
  }
  if (e.security === 'StartTLSInsecure' || e.security === 'ImplicitTLSInsecure') {
    warnings.push({
      code: 'CertificateNotVerified',
      message:
        'skip_ssl_verify=true: the server certificate is not checked, so a machine in the middle could read the mail and the password',
    });
  }
  return warnings;
}

/** Formats an endpoint back into its canonical URI (parse∘format is the identity). */
export function formatSmtpUri(e: SmtpEndpoint, opts: { redact?: boolean } = {}): string {
  let userinfo = '';
  if (e.username !== undefined) {
    userinfo = encodeURIComponent(e.username);
    if (e.password !== undefined) userinfo += `:${opts.redact ? REDACTED : encodeURIComponent(e.password)}`;
    userinfo += '@';
  }
  const params: string[] = [];
  if (e.security === 'StartTLSInsecure' || e.security === 'ImplicitTLSInsecure')
    params.push('skip_ssl_verify=true');
  if (e.security === 'Plaintext') params.push('disable_starttls=true');
  if (e.serverName !== undefined) params.push(`server_name=${encodeURIComponent(e.serverName)}`);
  const query = params.length ? `?${params.join('&')}` : '';
  return `${e.scheme}://${userinfo}${hostForUri(e.host)}:${e.port}/${query}`;
}

/** The URI with its password replaced by `***`: the only form of a URI that may be printed. */
export function redactedUri(e: SmtpEndpoint): string {
  return formatSmtpUri(e, { redact: true });
}

/** `host:port` as shown in `status.endpoint` (IPv6 in brackets). */
export function endpointAddress(e: Pick<SmtpEndpoint, 'host' | 'port'>): string {
  return `${hostForUri(e.host)}:${e.port}`;
}

/** The name the certificate must carry. */
export function tlsServerName(e: SmtpEndpoint): string {
  return e.serverName ?? e.host;
}

/** True when the mode encrypts the connection (whether or not it verifies). */
export function usesTls(security: Security): boolean {
  return security !== 'Plaintext';
}

/** True when the mode checks the certificate chain and name. */
export function verifiesCertificate(security: Security): boolean {
  return security === 'StartTLS' || security === 'ImplicitTLS';
}

function hostForUri(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

function firstIndexOf(s: string, chars: string[]): number {
  let min = s.length;
  for (const c of chars) {
    const i = s.indexOf(c);
    if (i >= 0 && i < min) min = i;
  }
  return min;
}

/**
 * A `/ ? #` inside a password ends the authority early and leaves an `@` behind it; an `@` inside the
 * user or password leaves two `@` in the authority. Both are named with their escape.
 */
function checkReservedInUserinfo(rest: string, authority: string, authorityEnd: number): void {
  const firstAt = authority.indexOf('@');
  if (firstAt >= 0 && firstAt !== authority.lastIndexOf('@')) {
    throw reservedCharError(authority.slice(0, firstAt).includes(':') ? 'password' : 'user', '@');
  }
  const lastAt = rest.lastIndexOf('@');
  if (firstAt < 0 && lastAt > authorityEnd && !rest.slice(authorityEnd, lastAt).includes('=')) {
    const part = authority.includes(':') ? 'password' : 'user';
    throw reservedCharError(part, rest[authorityEnd]!);
  }
}

function reservedCharError(part: 'user' | 'password', char: string): InvalidUriError {
  const name = part === 'user' ? 'the user name' : 'the password';
  return new InvalidUriError(
    part,
    `${name} contains "${char}", which is a URI delimiter: percent-encode it as ${ESCAPES[char]} (e.g. encodeURIComponent) and keep the rest as it is`,
  );
}

function decodePart(field: 'user' | 'password', raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    const label = field === 'user' ? 'user name' : 'password';
    throw new InvalidUriError(
      field,
      `the ${label} has a malformed percent-escape: "%" must be followed by two hex digits (write "%" itself as %25)`,
    );
  }
}

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined) return {};
  const colon = userinfo.indexOf(':');
  const rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  const rawPass = colon >= 0 ? userinfo.slice(colon + 1) : undefined;
  const username = decodePart('user', rawUser);
  if (username === '') {
    throw new InvalidUriError(
      'user',
      'the user name is empty: write smtp://user:password@host/, or drop the "@" for no authentication',
    );
  }
  if (rawPass === undefined) {
    throw new InvalidUriError(
      'password',
      'a user name is given without a password: write user:password@host (percent-encode special characters)',
    );
  }
  return { username, password: decodePart('password', rawPass) };
}

function parseHostPort(hostport: string, scheme: 'smtp' | 'smtps'): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0)
      throw new InvalidUriError('host', 'the IPv6 address has no closing "]": write it as [2001:db8::1]');
    host = hostport.slice(1, close);
    if (isIP(host) !== 6)
      throw new InvalidUriError('host', `"${host.slice(0, 60)}" in brackets is not an IPv6 address`);
    const after = hostport.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) {
      throw new InvalidUriError('host', 'unexpected text after the IPv6 address: expected [address]:port');
    }
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = hostport.indexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : undefined;
    host = host.toLowerCase();
    if (host === '')
      throw new InvalidUriError(
        'host',
        'the host is empty: write smtp://user:password@smtp.example.com:587/',
      );
    if (isIP(host) === 0 && !hostnamePattern.test(host)) {
      const bad = [...host].find((c) => !/[a-z0-9._-]/.test(c));
      throw new InvalidUriError(
        'host',
        bad
          ? `the host contains "${bad}", which is not allowed in a host name: use a DNS name (letters, digits, "-", ".") or an IP address`
          : 'the host is not a valid DNS name: each label has 1–63 letters, digits or "-"',
      );
    }
  }
  if (portText === undefined) return { host, port: DEFAULT_PORTS[scheme] };
  if (portText === '') {
    throw new InvalidUriError(
      'port',
      `the port after ":" is empty: write a number from 1 to 65535, or drop the ":" for the default ${DEFAULT_PORTS[scheme]}`,
    );
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new InvalidUriError(
      'port',
      `the port "${portText.slice(0, 10)}" is not a number from 1 to 65535 (if it is part of a password, percent-encode the password's special characters)`,
    );
  }
  return { host, port: Number(portText) };
}

function parseQuery(text: string): z.infer<typeof queryParamsSchema> {
  const raw: Record<string, string> = {};
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = safeDecode(eq >= 0 ? pair.slice(0, eq) : pair, 'query');
    if (eq < 0) {
      throw new InvalidUriError(
        `query.${name.slice(0, 40)}`,
        `query parameter ${name.slice(0, 40)} has no value: write ${name.slice(0, 40)}=true`,
      );
    }
    if (Object.hasOwn(raw, name)) {
      throw new InvalidUriError(
        `query.${name.slice(0, 40)}`,
        `query parameter ${name.slice(0, 40)} is given twice: keep one`,
      );
    }
    raw[name] = safeDecode(pair.slice(eq + 1), `query.${name}`);
  }
  const result = queryParamsSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path[0];
  throw new InvalidUriError(typeof key === 'string' ? `query.${key}` : 'query', issue.message);
}

function safeDecode(s: string, field: UriField): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new InvalidUriError(
      field,
      'the query has a malformed percent-escape: "%" must be followed by two hex digits',
    );
  }
}
