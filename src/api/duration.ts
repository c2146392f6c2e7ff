/**
 * Durations as Kubernetes APIs write them (`10s`, `5m`, `1h30m`, `250ms`), the Go `time.Duration`
 * string form that Flux and cert-manager users already know.
 *
 * @module
 */
import * as z from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

/** Parses `1h30m` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!PATTERN.test(text)) return undefined;
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(value) * UNIT_MS[unit!]!;
  return Math.round(total);
}

/** Formats milliseconds the way {@link parseDuration} reads them (`90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/** A zod string schema for a duration between `min` and `max` milliseconds. */
export function durationSchema(min: number, max: number) {
  return z
    .string()
    .regex(PATTERN, {
      error: 'must be a duration such as 30s, 10m or 1h30m (units ms, s, m, h)',
      abort: true,
    })
    .refine(
      (s) => {
        const ms = parseDuration(s);
        return ms !== undefined && ms >= min && ms <= max;
      },
      { error: `must be between ${formatDuration(min)} and ${formatDuration(max)}` },
    );
}
