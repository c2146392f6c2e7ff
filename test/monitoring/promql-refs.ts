/**
 * The metric names and label names a PromQL expression refers to, found without a full parser:
 * enough for the expressions of our rules and dashboard (selectors, aggregations, binary operators,
 * functions, ranges), so that a test can hold each reference against what the code exports.
 */

/** One reference: a metric (or undefined for a bare `{…}` selector) and the labels it names. */
export interface Selector {
  metric: string | undefined;
  /** Matchers: label, operator and the value as written. */
  matchers: { label: string; op: string; value: string }[];
}

/** What one expression refers to. */
export interface Refs {
  selectors: Selector[];
  /** Labels of `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`, `group_left (…)`, `group_right (…)`. */
  grouping: string[];
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

/** Finds the references of `expr`. */
export function promqlRefs(expr: string): Refs {
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  let rest = expr;
  // Grouping clauses first: their parentheses hold label names, not expressions.
  rest = rest.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_, _kw, labels: string) => {
      grouping.push(
        ...labels
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean),
      );
      return ' ';
    },
  );
  // Selectors with matchers; the metric name may stand before the braces.
  rest = rest.replace(
    /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g,
    (_, metric: string | undefined, body: string) => {
      const matchers = [...body.matchAll(MATCHER)].map((m) => ({ label: m[1]!, op: m[2]!, value: m[3]! }));
      selectors.push({ metric, matchers });
      return ' ';
    },
  );
  rest = rest
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ') // strings (printf formats, label_replace arguments)
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b\d+(\.\d+)?([eE][+-]?\d+)?\b/g, ' ');
  for (const m of rest.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase())) continue; // a function or an operator word
    selectors.push({ metric: m[1], matchers: [] });
  }
  return { selectors, grouping };
}
