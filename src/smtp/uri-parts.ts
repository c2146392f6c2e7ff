/**
 * The parts of an SMTP URI after the lexical split (`uri-lexer.ts`): user name and password, host
 * and port, query parameters. Each is checked and decoded here; errors name the part and the kind of
 * character, never the text, except a query parameter Mailroom itself defines.
 *
 * @module
 */
import { isIP } from 'node:net';
import * as z from 'zod';
import {
  characterKind,
  decodeCredential,
  InvalidUriError,
  ordinal,
  type RawParts,
  type UriField,
} from './uri-lexer.ts';

/** The port of each scheme when the URI names none. */
export const DEFAULT_PORTS = { smtp: 587, smtps: 465 } as const;
/** The query parameters an SMTP URI may carry. */
export const QUERY_PARAMETERS = ['skip_ssl_verify', 'disable_starttls', 'server_name'] as const;

const boolParam = (name: string) =>
  z.enum(['true', 'false', '1', '0'], {
    error: `query parameter ${name} is not a boolean: use true, false, 1 or 0`,
  });

/** A DNS host name (lower case), as the host and `server_name` must be. */
export const hostnamePattern =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

const queryParamsSchema = z.object({
  skip_ssl_verify: boolParam('skip_ssl_verify').optional(),
  disable_starttls: boolParam('disable_starttls').optional(),
  server_name: z
    .string()
    .transform((s) => s.toLowerCase())
    .refine((s) => hostnamePattern.test(s) || isIP(s) !== 0, {
      error: 'query parameter server_name must be a DNS name such as mail.example.com',
    })
    .optional(),
});

/** The decoded user name and password; a user without a password is refused. */
export function parseUserinfo(parts: RawParts): { username?: string; password?: string } {
  if (parts.user === undefined) return {};
  const username = decodeCredential('user', parts.user);
  if (username === '') {
    throw new InvalidUriError(
      'user',
      'the user name is empty: write smtp://user:password@host/, or drop the "@" for no authentication',
    );
  }
  if (parts.password === undefined) {
    throw new InvalidUriError(
      'password',
      'a user name is given without a password: write user:password@host (percent-encode special characters)',
    );
  }
  return { username, password: decodeCredential('password', parts.password) };
}

/** Where in host:port the first character outside `allowed` sits, described, or undefined. */
function badCharacter(text: string, allowed: RegExp): string | undefined {
  const chars = [...text];
  const i = chars.findIndex((c) => !allowed.test(c));
  return i < 0 ? undefined : `${characterKind(chars[i]!)} (its ${ordinal(i + 1)} character)`;
}

/** Host (lower case; IPv6 without brackets) and port (the scheme's default when absent). */
export function parseHostPort(hostport: string, scheme: 'smtp' | 'smtps'): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0)
      throw new InvalidUriError('host', 'the IPv6 address has no closing "]": write it as [2001:db8::1]');
    host = hostport.slice(1, close);
    if (isIP(host) !== 6)
      throw new InvalidUriError(
        'host',
        'the text in brackets is not an IPv6 address: write it as [2001:db8::1]',
      );
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
      const bad = badCharacter(host, /[a-z0-9._-]/);
      throw new InvalidUriError(
        'host',
        bad
          ? `the host contains ${bad}, which a host name may not hold: use a DNS name (letters, digits, "-", "."; non-ASCII names in their xn-- form) or an IP address`
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
  const bad = badCharacter(portText, /[0-9]/);
  if (bad !== undefined || portText.length > 5 || Number(portText) < 1 || Number(portText) > 65535) {
    throw new InvalidUriError(
      'port',
      `the port is not a number from 1 to 65535${bad ? ` (it holds ${bad})` : ''}: if a password comes before it, check that the "@" before the host is there`,
    );
  }
  return { host, port: Number(portText) };
}

const KNOWN: ReadonlySet<string> = new Set(QUERY_PARAMETERS);

/** The query field of a parameter name: its own for known names, `query` for any other. */
function queryField(name: string): UriField {
  return KNOWN.has(name) ? (`query.${name}` as UriField) : 'query';
}

/** The known query parameters; an unknown one is refused without being named. */
export function parseQuery(text: string): z.infer<typeof queryParamsSchema> {
  const raw: Record<string, string> = {};
  const pairs = text.split('&');
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = safeDecode(eq >= 0 ? pair.slice(0, eq) : pair, 'query');
    // Unknown names are not repeated back (a mangled password can end up here): only their place.
    if (!KNOWN.has(name)) {
      const lower = name.toLowerCase();
      throw new InvalidUriError(
        'query',
        KNOWN.has(lower)
          ? `query parameter names are lower case: write ${lower}`
          : `the ${ordinal(i + 1)} query parameter is not one Mailroom knows: known parameters are ${QUERY_PARAMETERS.join(', ')}`,
      );
    }
    if (eq < 0)
      throw new InvalidUriError(queryField(name), `query parameter ${name} has no value: write ${name}=…`);
    if (Object.hasOwn(raw, name))
      throw new InvalidUriError(queryField(name), `query parameter ${name} is given twice: keep one`);
    raw[name] = safeDecode(pair.slice(eq + 1), queryField(name));
  }
  const result = queryParamsSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path[0];
  throw new InvalidUriError(typeof key === 'string' ? queryField(key) : 'query', issue.message);
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
