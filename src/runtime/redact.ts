/**
 * Credential redaction for everything Mailroom prints: logs, status, Events, CLI output, the
 * sidecar's API and page.
 *
 * Two layers, applied together at each sink:
 * - a {@link Redactor} built from the secret values a sink knows (a sender's password, DKIM key …)
 *   removes them in every form they travel in: raw, percent-encoded, JSON-escaped, and base64 at any
 *   alignment (so the AUTH PLAIN blob `\0user\0password` and AUTH LOGIN's are covered whatever the
 *   user name) — and a secret cut short at the end of a truncated text;
 * - {@link redactUris} removes the password of any `scheme://user:password@` in text, for URIs whose
 *   password the sink does not know. It is a single forward scan (no regular expression can
 *   backtrack), and it covers every password the parser accepts (spaces, quotes, unicode, `:`) and
 *   those it refuses (raw `/ ? # @`).
 *
 * @module
 */

/** What a redacted secret reads as. */
export const REDACTED = '***';

/** Secrets shorter than this are not searched for: they would blank out ordinary words. */
const MIN_SECRET_LENGTH = 3;
/** A cut-off secret at the end of a text is removed when at least this much of it is left. */
const MIN_TAIL_LENGTH = 4;
/** Longer forms (a PEM key) are not looked for cut off: no sink truncates inside one. */
const MAX_TAIL_FORM = 512;

const isSchemeChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
const isLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
// Letters, digits, '.', '-', ':', '[', ']': a host, an IPv6 literal, a port.
const isHostChar = (c: number) => (isSchemeChar(c) && c !== 43 ? true : c === 58 || c === 91 || c === 93);
// `host:port/` (or `?query`) then white space: the colon was a port's, as a password the parser
// takes never holds a raw '/' or '?'. (`host:port` then white space is not told apart from a password
// of digits and spaces: it is redacted.)
const PORT_THEN_TEXT = /^\d{1,5}(?:\/(?:\?[^\s#]*)?|\?[^\s#]*)\s/;
const PORT_ONLY = /^\d{0,5}(?:\/(?:\?[^\s#]*)?|\?[^\s#]*)?$/;
/** `://` starts at `i`. */
const isSep = (text: string, i: number) =>
  text.charCodeAt(i) === 58 && text.charCodeAt(i + 1) === 47 && text.charCodeAt(i + 2) === 47;
/**
 * Another URI starts with the `://` at `i`: a scheme (a letter, then scheme characters) ends right
 * before it, after `lo`. A `://` with no scheme before it is part of a password.
 */
function startsUri(text: string, i: number, lo: number): boolean {
  if (!isSep(text, i)) return false;
  let s = i;
  while (s > lo && isSchemeChar(text.charCodeAt(s - 1))) s--;
  while (s < i && !isLetter(text.charCodeAt(s))) s++;
  return s < i;
}
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/**
 * Replaces the password of every `scheme://user:password@` URI in `text` with `***`, in one pass.
 *
 * The password runs from the first `:` after the user name to the `@` before the host; when that
 * `@` is followed (without white space) by another, the last one wins, so a raw `@` in a password is
 * covered. A `user:password` that is cut off before its `@` is redacted to the end of its word.
 * `host:port/` is told apart from `user:password@` by the digits and the `/` after the colon.
 *
 * @example
 * redactUris('dial smtp://mailer:s3 cr/et@smtp.example.com:587/ failed')
 * // 'dial smtp://mailer:***@smtp.example.com:587/ failed'
 */
export function redactUris(text: string): string {
  let out = '';
  let copied = 0;
  let floor = 0;
  let from = 0;
  for (;;) {
    const p = text.indexOf('://', from);
    if (p < 0) break;
    let s = p;
    while (s > floor && isSchemeChar(text.charCodeAt(s - 1))) s--;
    while (s < p && !isLetter(text.charCodeAt(s))) s++;
    floor = p + 3;
    from = p + 3;
    if (s === p || text[p + 3] === '[') continue;
    // The user name: up to the first ':' (or a character that ends the authority).
    let u = p + 3;
    while (u < text.length && !':@/?#\n\r'.includes(text[u]!)) u++;
    if (text[u] !== ':') {
      from = u;
      continue;
    }
    // The password: up to the first '@' on its line, before any other URI.
    let a = u + 1;
    while (
      a < text.length &&
      text[a] !== '@' &&
      text[a] !== '\n' &&
      text[a] !== '\r' &&
      !startsUri(text, a, u + 1)
    )
      a++;
    let end: number;
    if (text[a] === '@') {
      // The URI's own '@' is the last one before the next URI on this line that starts
      // `host[:port]` followed by '/' or '?' (a raw '@' in the password comes before it).
      let own = -1;
      let word = a;
      let inWord = true;
      for (let t = a; t < text.length && text[t] !== '\n' && text[t] !== '\r'; ) {
        if (isSep(text, t)) break;
        if (isSpace(text[t])) inWord = false;
        if (text[t] !== '@') {
          t++;
          continue;
        }
        if (inWord) word = t;
        let h = t + 1;
        while (h < text.length && isHostChar(text.charCodeAt(h))) h++;
        if (h > t + 1 && (text[h] === '/' || text[h] === '?')) own = t;
        t = h;
      }
      if (own < 0 && PORT_THEN_TEXT.test(text.slice(u + 1, a))) {
        from = u + 1; // host:port/… followed by other text holding an '@'
        continue;
      }
      // Failing that, the last '@' of the word after the first '@' (a raw '@' in the password).
      a = own >= 0 ? own : word;
      end = a;
    } else {
      end = u + 1;
      while (end < text.length && !isSpace(text[end]) && !isSep(text, end)) end++;
      if (PORT_ONLY.test(text.slice(u + 1, end))) {
        from = u + 1; // host:port, no credentials
        continue;
      }
    }
    out += text.slice(copied, u + 1) + REDACTED;
    copied = end;
    floor = end;
    from = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const HTML_NAMED: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * The forms a secret travels in: raw, percent-encoded (upper- and lower-case hex, and `+` for
 * space), JSON-escaped, HTML-escaped, its UTF-8 bytes read as latin1 or as printable ASCII, and the part of its base64 that does not depend on what is encoded with it
 * (three alignments, standard and URL alphabets, and its padded end). Longest first, so a form is removed before a
 * shorter one inside it.
 */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret]);
  const encoded = encodeURIComponent(secret);
  forms.add(encoded);
  forms.add(encoded.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
  forms.add(encoded.replace(/%20/g, '+'));
  forms.add(JSON.stringify(secret).slice(1, -1));
  // As an HTML page shows it (numeric references, as the sidecar's page writes them, and named).
  forms.add(secret.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`));
  forms.add(secret.replace(/[&<>"']/g, (c) => HTML_NAMED[c]!));
  const bytes = Buffer.from(secret, 'utf8');
  // As byte-oriented code shows it: UTF-8 bytes read as latin1, and with everything but printable
  // ASCII as '?' (how the probe shows server lines). A '?' form is kept only when it still holds
  // enough of the secret's own text to be told from other text.
  const latin1 = bytes.toString('latin1');
  forms.add(latin1);
  for (const t of [latin1, secret]) {
    if (/[\x20-\x7e]{4}/.test(t)) forms.add(t.replace(/[^\x20-\x7e]/g, '?'));
  }
  for (let pad = 0; pad < 3; pad++) {
    const b64 = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64');
    // Groups of 4 characters encode 3 bytes; keep those made of the secret's bytes only.
    const first = Math.ceil(pad / 3) * 4;
    const last = Math.floor((pad + bytes.length) / 3) * 4;
    if (last - first < 4) continue;
    const core = b64.slice(first, last);
    // Where the secret ends what was encoded (an AUTH PLAIN blob, a server echoing it), its last
    // partial group is its own too: with padding, and without (unpadded base64url).
    const tail = b64.slice(first);
    for (const form of new Set([core, tail, tail.replace(/=+$/, '')])) {
      forms.add(form);
      forms.add(form.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH).sort((x, y) => y.length - x.length);
}

/**
 * Removes known secret values, in all their forms, and URI passwords from what a sink writes.
 * Built once per sender (or per process) from the values it knows; cheap to apply: each form is one
 * linear search of the text.
 */
export class Redactor {
  readonly #forms: string[];
  readonly #raw: string[];

  /** `secrets`: the values to remove; empty, missing and very short ones are skipped. */
  constructor(secrets: ReadonlyArray<string | undefined> = []) {
    const raw = [...new Set(secrets.filter((s): s is string => !!s && s.length >= MIN_SECRET_LENGTH))];
    this.#raw = raw;
    this.#forms = [...new Set(raw.flatMap(secretForms))].sort((x, y) => y.length - x.length);
  }

  /** True when the redactor knows no secret (it still redacts URI passwords). */
  get empty(): boolean {
    return this.#raw.length === 0;
  }

  /** `text` with every known secret form and every URI password replaced by `***`. */
  text(text: string): string {
    let out = redactUris(text);
    for (const form of this.#forms) if (out.includes(form)) out = out.split(form).join(REDACTED);
    return this.#cutOff(out);
  }

  /** A copy of a JSON-like value with every string redacted (objects, arrays; other values kept). */
  deep<T>(value: T, depth = 0): T {
    if (typeof value === 'string') return this.text(value) as T;
    if (depth > 12 || value === null || typeof value !== 'object') return value;
    if (value instanceof Error) return this.error(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.deep(v, depth + 1)) as T;
    // A Date, a Buffer …: redact what JSON.stringify would write of it.
    const toJSON = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof toJSON === 'function') return this.deep(toJSON.call(value), depth + 1) as T;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.deep(v, depth + 1);
    return out as T;
  }

  /** A new error of the same name with message, stack and causes redacted; `code` and `reason` kept. */
  error(err: Error): Error {
    const copy = new Error(this.text(err.message));
    copy.name = err.name;
    copy.stack = err.stack === undefined ? undefined : this.text(err.stack);
    for (const key of ['code', 'reason', 'kind', 'field', 'maxBackoffMs'] as const) {
      const v = (err as unknown as Record<string, unknown>)[key];
      if (v !== undefined) (copy as unknown as Record<string, unknown>)[key] = v;
    }
    if (err.cause instanceof Error) copy.cause = this.error(err.cause);
    return copy;
  }

  /** A secret cut off by truncation (`…` or nothing after it) at the end of a text. */
  #cutOff(text: string): string {
    let body = text;
    let ellipsis = '';
    for (const e of ['…', '...']) {
      if (body.endsWith(e)) {
        body = body.slice(0, -e.length);
        ellipsis = e;
        break;
      }
    }
    for (const form of this.#forms) {
      if (form.length > MAX_TAIL_FORM) continue;
      // Candidate starts are the last form.length characters equal to the form's first one.
      for (let i = Math.max(0, body.length - form.length + 1); i <= body.length - MIN_TAIL_LENGTH; i++) {
        if (body[i] === form[0] && form.startsWith(body.slice(i)))
          return `${body.slice(0, i)}${REDACTED}${ellipsis}`;
      }
    }
    return text;
  }
}

// Callers pass the same few secrets for every string of a status or a reply: keep their redactors.
const recent = new Map<string, Redactor>();

/**
 * `text` with the given secrets (in every form) and URI passwords removed, through a
 * {@link Redactor} kept for the last few sets of secrets.
 */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  const key = secrets.map((s) => s ?? '').join('\0');
  let r = recent.get(key);
  if (!r) {
    r = new Redactor(secrets);
    if (recent.size >= 32) recent.delete(recent.keys().next().value!);
    recent.set(key, r);
  }
  return r.text(text);
}

const SECRET_KEYS = /^(password|pass|passwd|secret|token|authorization|credentials?|privateKey)$/i;

/**
 * Returns a copy of a log record in which secret-named fields are censored and every string is
 * redacted (URI passwords, and the secrets `redactor` knows). Walks nested objects and arrays
 * (bounded depth: log records are small).
 */
export function redactRecord<T>(value: T, redactor: Redactor = NO_SECRETS, depth = 0): T {
  if (typeof value === 'string') return redactor.text(value) as T;
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return redactError(value, redactor) as T;
  if (Array.isArray(value)) return value.map((v) => redactRecord(v, redactor, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEYS.test(k) && v !== undefined && v !== null ? REDACTED : redactRecord(v, redactor, depth + 1);
  }
  return out as T;
}

/** A plain, redacted rendering of an error (message, code, stack, cause) fit for a log line. */
export function redactError(err: Error, redactor: Redactor = NO_SECRETS): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: redactor.text(err.message) };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (err.stack) out.stack = redactor.text(err.stack);
  if (err.cause instanceof Error) out.cause = redactError(err.cause, redactor);
  return out;
}

/** A redactor that knows no secret: URI passwords only. */
export const NO_SECRETS = new Redactor();
