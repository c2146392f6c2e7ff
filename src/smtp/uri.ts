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
import { REDACTED } from '../runtime/redact.ts';
import { InvalidUriError, splitAfterScheme } from './uri-lexer.ts';
import { parseHostPort, parseQuery, parseUserinfo } from './uri-parts.ts';

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

export { InvalidUriError, type UriField } from './uri-lexer.ts';
export { DEFAULT_PORTS, QUERY_PARAMETERS } from './uri-parts.ts';

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

/** Schemes people paste by mistake, which an error may name back. */
const WELL_KNOWN_SCHEMES: ReadonlySet<string> = new Set([
  'http',
  'https',
  'mailto',
  'smtp+tls',
  'smtp+starttls',
  'smtp+ssl',
  'submission',
  'submissions',
  'ssmtp',
  'imap',
  'imaps',
  'pop3',
  'pop3s',
  'ses',
  'file',
]);

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
    // Only well-known schemes are named back: the text before "://" is the user's.
    const named = WELL_KNOWN_SCHEMES.has(scheme) ? `"${scheme}"` : 'of the URI';
    throw new InvalidUriError(
      'scheme',
      `unknown scheme ${named}: use smtp:// (STARTTLS or cleartext) or smtps:// (implicit TLS)`,
    );
  }
  const parts = splitAfterScheme(uri.slice(schemeMatch[0].length));
  const { username, password } = parseUserinfo(parts);
  const { host, port } = parseHostPort(parts.hostport, scheme);
  const query = parseQuery(parts.query ?? '');
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

/**
 * The secret values a URI holds, for a `Redactor` (`runtime/redact.ts`): for a parsed URI (its text
 * and endpoint) the decoded password, and, parsed or not, the raw text between `user:` and the last
 * `@` and its decoding, so that even a URI the parser refused (passed as its text) has its password
 * known to every sink. It never parses: a URI is parsed once, where it enters the process.
 */
export function uriSecrets(uri: string | (ParsedUri & { text: string })): string[] {
  const out = new Set<string>();
  const text = (typeof uri === 'string' ? uri : uri.text).trim();
  if (typeof uri !== 'string' && uri.endpoint.password) out.add(uri.endpoint.password);
  const start = text.indexOf('://');
  const at = text.lastIndexOf('@');
  const colon = start >= 0 ? text.indexOf(':', start + 3) : -1;
  if (colon >= 0 && colon < at) {
    const raw = text.slice(colon + 1, at);
    out.add(raw);
    try {
      out.add(decodeURIComponent(raw));
    } catch {
      // A malformed escape: the raw text is what may be echoed.
    }
  }
  return [...out].filter((s) => s !== '');
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
