/**
 * CEL (`x-kubernetes-validations`) building blocks for the CRD: rules the apiserver checks that an
 * OpenAPI schema alone cannot say. Each mirrors a zod refinement in `emailsender.ts`, so
 * `mailroom validate` and the apiserver refuse the same manifests with the same words.
 *
 * Every rule is cost-bounded: it only runs on strings with a `maxLength` or maps with a
 * `maxProperties`, because the apiserver refuses a CRD whose estimated rule cost is unbounded.
 *
 * @module
 */

/** One entry of `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
}

/**
 * A CEL string literal for `text`. Double-quoted with backslash escapes, so regular expressions
 * holding `'` (the email pattern does) survive.
 */
export function celString(text: string): string {
  return `"${text
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')}"`;
}

// The same language as the PATTERN of duration.ts, written for RE2 (`\d` spelled [0-9]); a test
// checks the two agree. Go's time.ParseDuration (CEL `duration()`) reads a superset of it.
const DURATION_RE2 = '^([0-9]+([.][0-9]+)?(ms|s|m|h))+$';

const goDuration = (ms: number): string => {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
};

/**
 * Bounds a duration string (`10m`, `1h30m`) between `minMs` and `maxMs`. Text that is no duration
 * at all passes this rule: the pattern rule beside it reports that, and `duration()` would fail to
 * evaluate instead of saying why.
 */
export function durationRangeRule(minMs: number, maxMs: number, message: string): CelRule {
  const lo = `duration(${celString(goDuration(minMs))})`;
  const hi = `duration(${celString(goDuration(maxMs))})`;
  return {
    rule: `!self.matches(${celString(DURATION_RE2)}) || (duration(self) >= ${lo} && duration(self) <= ${hi})`,
    message,
  };
}

/**
 * Refuses map keys that equal (ignoring ASCII case) one of `names`, which must be lower case. The
 * message names the offending key, since the apiserver reports the map, not the key.
 */
export function keysNotInRule(names: readonly string[], message: string): CelRule {
  const bad = `self.filter(k, k.lowerAscii() in [${names.map(celString).join(', ')}])`;
  return {
    rule: `size(${bad}) == 0`,
    message: `a key ${message}`,
    messageExpression: `${celString('"')} + ${bad}[0] + ${celString(`" ${message}`)}`,
  };
}

export { DURATION_RE2 as durationRe2 };
