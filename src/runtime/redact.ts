/**
 * Credential redaction for everything Mailroom prints: logs, status, events, metrics and errors.
 *
 * The URI of an SMTP server carries its password, so every path that turns a URI (or text that may
 * hold one) into output goes through {@link redactUris}. Redaction is textual on purpose: it must
 * also work on text that is not a valid URI, such as a half-typed value in an error message.
 *
 * @module
 */

/** What a redacted password reads as. */
export const REDACTED = '***';

// scheme://user:password@ — the password runs to the last '@' before white space or a quote, so a
// password holding an unescaped '@', '/' or '?' is still covered whole.
const URI_WITH_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@'"<>]*):[^\s'"<>]*@/gi;

/**
 * Replaces the password of every `scheme://user:password@` URI in `text` with `***`.
 *
 * @example
 * redactUris('dial smtp://mailer:s3cret@smtp.example.com:587/ failed')
 * // 'dial smtp://mailer:***@smtp.example.com:587/ failed'
 */
export function redactUris(text: string): string {
  return text.replace(URI_WITH_PASSWORD, `$1:${REDACTED}@`);
}

/**
 * Removes every occurrence of the given secret strings (and their percent-encoded and base64 forms,
 * which is how SMTP servers echo them back) from `text`.
 */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = redactUris(text);
  for (const secret of secrets) {
    if (!secret || secret.length < 3) continue;
    for (const form of secretForms(secret)) out = out.split(form).join(REDACTED);
  }
  return out;
}

function secretForms(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]);
  return [...forms].filter((f) => f.length >= 3);
}

const SECRET_KEYS = /^(password|pass|passwd|secret|token|authorization|credentials?|privateKey)$/i;

/**
 * Returns a copy of a log record in which secret-named fields are censored and every string has its
 * URI passwords redacted. Walks nested objects and arrays (bounded depth: log records are small).
 */
export function redactRecord<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactUris(value) as T;
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return redactError(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactRecord(v, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEYS.test(k) && v !== undefined && v !== null ? REDACTED : redactRecord(v, depth + 1);
  }
  return out as T;
}

/** A plain, redacted rendering of an error (message, code, stack) fit for a log line. */
export function redactError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: redactUris(err.message) };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (err.stack) out.stack = redactUris(err.stack);
  if (err.cause instanceof Error) out.cause = redactError(err.cause);
  return out;
}
