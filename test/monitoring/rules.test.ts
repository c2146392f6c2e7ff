/**
 * deploy/monitoring's alerts and dashboard: `promtool check rules` and `promtool test rules`
 * (Debian's prometheus package) on the real rule groups; every alert has a summary, a description,
 * a runbook section in docs/operations.md and unit tests that fire it and keep it quiet; every
 * query uses only metrics and labels the code really exports (read from its registries).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { MESSAGE_STATES } from '../../src/sidecar/types.ts';
import { runCommand } from '../support/run-command.ts';
import { type Exported, exportedMetrics, TARGET_LABELS } from './exported-metrics.ts';
import { promqlRefs } from './promql-refs.ts';
import { allExpressions, ruleFile, ruleGroups } from './rules.ts';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const repo = (path: string) => here(`../../${path}`);

describe('alerting rules and dashboard (deploy/monitoring)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailroom-rules-'));
    await writeFile(join(dir, 'mailroom-rules.yaml'), await ruleFile());
    await copyFile(here('alerts.test.yaml'), join(dir, 'alerts.test.yaml'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('promtool check rules accepts them', async () => {
    const r = await runCommand('promtool', ['check', 'rules', join(dir, 'mailroom-rules.yaml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 7 rules found/);
  });

  test('promtool test rules: the unit tests pass, and each alert is both fired and kept quiet', async () => {
    const r = await runCommand('promtool', ['test', 'rules', join(dir, 'alerts.test.yaml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const tests = parse(await readFile(here('alerts.test.yaml'), 'utf8')).tests as {
      alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
    }[];
    const cases = tests.flatMap((t) => t.alert_rule_test);
    for (const g of await ruleGroups())
      for (const rule of g.rules) {
        const mine = cases.filter((c) => c.alertname === rule.alert);
        assert.ok(
          mine.some((c) => c.exp_alerts.length > 0),
          `${rule.alert}: no test fires it`,
        );
        assert.ok(
          mine.some((c) => c.exp_alerts.length === 0),
          `${rule.alert}: no test keeps it quiet`,
        );
      }
  });

  test('every alert has a severity, a summary, a description and a runbook section in docs/operations.md', async () => {
    const docs = await readFile(repo('docs/operations.md'), 'utf8');
    const anchors = new Set(
      [...docs.matchAll(/^#+\s+(.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const g of await ruleGroups())
      for (const rule of g.rules) {
        assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, rule.alert);
        assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
        assert.ok((rule.annotations?.description ?? '').length > 60, `${rule.alert}: description`);
        const url = rule.annotations?.runbook_url ?? '';
        const m = /docs\/operations\.md#([a-z0-9-]+)$/.exec(url);
        assert.ok(m, `${rule.alert}: runbook_url ${url} does not point into docs/operations.md`);
        assert.equal(m[1], rule.alert.toLowerCase(), `${rule.alert}: the anchor is the alert's name`);
        assert.ok(anchors.has(m[1]!), `${rule.alert}: docs/operations.md has no section #${m[1]}`);
      }
  });

  describe('every query uses only metrics and labels the code exports', () => {
    let exported: Exported;
    before(async () => {
      exported = await exportedMetrics();
    });

    test('the registries were read (a sanity check of the check)', () => {
      assert.ok(exported.get('mailroom_senders')?.has('reason'));
      assert.ok(exported.get('mailroom_probe_duration_seconds_bucket')?.has('le'));
      assert.ok(
        exported.get('mailroom_sidecar_messages')?.has('sender_name'),
        'the sidecar labels its sender',
      );
      assert.ok(exported.get('mailroom_sidecar_oldest_message_age_seconds')?.has('sender_namespace'));
    });

    test('rules and dashboard', async () => {
      const expressions = await allExpressions();
      assert.ok(expressions.length >= 17, `only ${expressions.length} expressions found`);
      for (const { where, expr } of expressions) {
        const { selectors, grouping } = promqlRefs(expr);
        const seen = new Set<string>(TARGET_LABELS);
        assert.ok(selectors.length > 0, `${where}: no metric found in ${expr}`);
        for (const s of selectors) {
          assert.ok(s.metric, `${where}: a selector without a metric name in ${expr}`);
          const labels = exported.get(s.metric);
          assert.ok(labels, `${where}: ${s.metric} is not exported by the code`);
          for (const l of labels) seen.add(l);
          for (const m of s.matchers) {
            assert.ok(
              labels.has(m.label) || TARGET_LABELS.includes(m.label),
              `${where}: ${s.metric} has no label ${m.label}`,
            );
            if (m.label === 'state' && !m.value.includes('$'))
              for (const v of m.value.split('|'))
                assert.ok(
                  (MESSAGE_STATES as readonly string[]).includes(v),
                  `${where}: no message state ${v}`,
                );
          }
        }
        for (const l of grouping) assert.ok(seen.has(l), `${where}: no metric in it carries ${l}: ${expr}`);
      }
    });

    test('the check catches a wrong name and a wrong label', () => {
      const wrongName = promqlRefs('sum(rate(mailroom_sidecar_delivered_total[5m]))');
      assert.equal(exported.has(wrongName.selectors[0]!.metric!), false);
      const wrongLabel = promqlRefs('mailroom_senders{sender="x"}');
      assert.equal(exported.get('mailroom_senders')!.has(wrongLabel.selectors[0]!.matchers[0]!.label), false);
    });
  });

  test('the dashboard: senders by reason, probe latency, deliveries by result, queue depth and age, per sender', async () => {
    const dashboard = JSON.parse(await readFile(repo('deploy/monitoring/dashboard.json'), 'utf8'));
    const panel = (title: RegExp) => {
      const p = dashboard.panels.find((x: { title: string }) => title.test(x.title));
      assert.ok(p, `no panel ${title}`);
      return p.targets.map((t: { expr: string }) => t.expr).join('\n') as string;
    };
    assert.match(panel(/^Senders by Ready reason$/), /mailroom_senders\{condition="Ready"\}/);
    assert.match(
      panel(/^Probe latency$/),
      /histogram_quantile\(0\.95, .*mailroom_probe_duration_seconds_bucket/,
    );
    assert.match(panel(/^Deliveries by result, per sender$/), /by \(sender_namespace, sender_name, result\)/);
    assert.match(
      panel(/^Queue depth, per sender$/),
      /by \(sender_namespace, sender_name, state\) \(mailroom_sidecar_messages/,
    );
    assert.match(
      panel(/^Oldest waiting message, per sender$/),
      /mailroom_sidecar_oldest_message_age_seconds/,
    );
    const vars = dashboard.templating.list.map((v: { name: string }) => v.name);
    assert.deepEqual(vars, ['datasource', 'sender_namespace', 'sender_name']);
  });
});
