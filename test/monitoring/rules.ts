/**
 * The alerting rules and dashboard of deploy/monitoring as the tests use them: the PrometheusRule's
 * groups as a plain Prometheus rule file, and every PromQL expression with where it comes from.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** One alerting rule as written in the PrometheusRule. */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The groups of deploy/monitoring/prometheusrule.yaml. */
export async function ruleGroups(): Promise<RuleGroup[]> {
  const rule = parse(await readFile(repo('deploy/monitoring/prometheusrule.yaml'), 'utf8'));
  return rule.spec.groups as RuleGroup[];
}

/**
 * The groups as a Prometheus rule file; `forOverride` replaces every `for:` (the e2e test cannot wait
 * ten minutes, so it runs the real expressions with a short hold).
 */
export async function ruleFile(forOverride?: string): Promise<string> {
  const groups = await ruleGroups();
  if (forOverride) for (const g of groups) for (const r of g.rules) if (r.for) r.for = forOverride;
  return stringify({ groups });
}

/** Every PromQL expression of the rules and the dashboard (panel targets and variable queries). */
export async function allExpressions(): Promise<{ where: string; expr: string }[]> {
  const out: { where: string; expr: string }[] = [];
  for (const g of await ruleGroups())
    for (const r of g.rules) out.push({ where: `alert ${r.alert}`, expr: r.expr });
  const dashboard = JSON.parse(await readFile(repo('deploy/monitoring/dashboard.json'), 'utf8'));
  for (const p of dashboard.panels)
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q ?? '');
    // label_values(selector, label): the selector is PromQL, the label one it must carry.
    if (m) out.push({ where: `variable ${v.name}`, expr: `max by (${m[2]}) (${m[1]})` });
  }
  return out;
}
