/**
 * The lexical split of an SMTP URI into its raw parts, and the errors that say what is wrong with a
 * part without ever quoting it.
 *
 * A URI here carries a password, and a password pasted without percent-encoding is the commonest
 * mistake (AWS SES passwords are base64 with `/ + =`; many passwords hold `@`). WHATWG `URL` re-reads
 * such a password as path, query or fragment and a naive split reports a "port" or "path" that is in
 * truth the password's text. So the split anchors on the LAST `@` (no valid host, port, path or query
 * holds one), which puts every character of the user name and password on the userinfo side, and
 * each error names the part, the kind of character and its position — never the text.
 *
 * @module
 */

/** Parts of a URI a rejection can point at. Never built from the URI's own text. */
export type UriField =
  | 'uri'
  | 'scheme'
  | 'user'
  | 'password'
  | 'host'
  | 'port'
  | 'path'
  | 'fragment'
  | 'query'
  | 'query.skip_ssl_verify'
  | 'query.disable_starttls'
  | 'query.server_name';

/** Why a URI was refused: which part, what is wrong, what would be valid. Quotes no text of the URI. */
export class InvalidUriError extends Error {
  readonly reason = 'InvalidURI' as const;
  readonly field: UriField;
  constructor(field: UriField, message: string) {
    super(message);
    this.name = 'InvalidUriError';
    this.field = field;
  }
}

/** The raw (still percent-encoded) parts of a URI after `scheme://`. */
export interface RawParts {
  /** Undefined when the URI has no `@`. */
  user?: string;
  /** Undefined when the userinfo has no `:`. */
  password?: string;
  hostport: string;
  /** `/`, or empty. Anything longer is refused here. */
  path: string;
  /** The text after `?`, or undefined. */
  query?: string;
}

/** The percent-escape of each URI delimiter a user name or password may not hold raw. */
export const DELIMITER_ESCAPES: Readonly<Record<string, string>> = {
  '/': '%2F',
  '?': '%3F',
  '#': '%23',
  '@': '%40',
};

/** `1st`, `2nd`, `3rd`, `11th` … */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix =
    tens >= 11 && tens <= 13 ? 'th' : n % 10 === 1 ? 'st' : n % 10 === 2 ? 'nd' : n % 10 === 3 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

/**
 * The kind of a character, for messages: URI delimiters and a few marks are named (one character
 * says nothing about a secret); anything else only by its class.
 */
export function characterKind(c: string): string {
  if (c in DELIMITER_ESCAPES || c === ':' || c === '%') return `a raw \`${c}\``;
  if (c === ' ') return 'a space';
  if (/\s/.test(c)) return 'a white-space character';
  if (/[\p{Cc}\p{Cf}]/u.test(c)) return 'a control character';
  if (c === '"' || c === "'" || c === '`') return 'a quote';
  if (c.codePointAt(0)! > 0x7e) return 'a non-ASCII character';
  if (/[A-Z]/.test(c)) return 'an upper-case letter';
  if (/[a-z]/.test(c)) return 'a letter';
  if (/[0-9]/.test(c)) return 'a digit';
  return 'a punctuation character';
}

const label = (part: 'user' | 'password') => (part === 'user' ? 'user name' : 'password');

/**
 * Splits the text after `scheme://`. Throws {@link InvalidUriError} for a user name or password
 * holding a raw delimiter, a path, or a fragment.
 */
export function splitAfterScheme(rest: string): RawParts {
  const at = rest.lastIndexOf('@');
  const parts: RawParts = { hostport: '', path: '' };
  let after = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    parts.user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (colon >= 0) parts.password = userinfo.slice(colon + 1);
    checkRawDelimiters('user', parts.user);
    if (parts.password !== undefined) checkRawDelimiters('password', parts.password);
    after = rest.slice(at + 1);
  }
  let end = after.length;
  for (const c of ['/', '?', '#']) {
    const i = after.indexOf(c);
    if (i >= 0 && i < end) end = i;
  }
  parts.hostport = after.slice(0, end);
  let tail = after.slice(end);
  if (tail.includes('#')) {
    throw new InvalidUriError(
      'fragment',
      'the URI has a #fragment, which SMTP URIs do not use: remove it (a "#" in a password is written %23)',
    );
  }
  const q = tail.indexOf('?');
  if (q >= 0) {
    parts.query = tail.slice(q + 1);
    tail = tail.slice(0, q);
  }
  if (tail !== '' && tail !== '/') {
    throw new InvalidUriError(
      'path',
      `the URI has a path of ${[...tail].length} characters after host:port: only "/" (or nothing) may follow host:port`,
    );
  }
  parts.path = tail;
  return parts;
}

/** Names every raw `/ ? # @` and every `%` without two hex digits in a user name or password. */
function checkRawDelimiters(part: 'user' | 'password', raw: string): void {
  const found = new Map<string, number>();
  let badPercent: number | undefined;
  const chars = [...raw];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c in DELIMITER_ESCAPES && !found.has(c)) found.set(c, i + 1);
    if (c === '%' && badPercent === undefined && !/^[0-9A-Fa-f]{2}$/.test(`${chars[i + 1]}${chars[i + 2]}`))
      badPercent = i + 1;
  }
  if (found.size > 0) {
    const list = [...found].map(([c, pos]) => `a raw \`${c}\` (its ${ordinal(pos)} character)`);
    const escapes = [...found.keys()].map((c) => `\`${c}\` as ${DELIMITER_ESCAPES[c]}`);
    throw new InvalidUriError(
      part,
      `the ${label(part)} seems to contain ${joinList(list)}, which the URI reads as a delimiter: percent-encode ${joinList(escapes)} (e.g. with encodeURIComponent) and keep the rest as it is`,
    );
  }
  if (badPercent !== undefined) {
    throw new InvalidUriError(
      part,
      `the ${label(part)} has a "%" not followed by two hex digits (its ${ordinal(badPercent)} character): write a literal "%" as %25`,
    );
  }
}

/** Percent-decodes a user name or password; a bad escape is named, not quoted. */
export function decodeCredential(part: 'user' | 'password', raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new InvalidUriError(
      part,
      `the ${label(part)} has percent-escapes that do not decode to UTF-8 text: percent-encode the text itself (e.g. with encodeURIComponent), not other bytes`,
    );
  }
}

function joinList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
