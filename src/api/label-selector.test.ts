import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labelSelectorSchema, matchesSelector } from './label-selector.ts';

describe('matchesSelector', () => {
  const labels = { team: 'a', env: 'prod' };
  test('an empty (or absent) selector selects everything', () => {
    assert.equal(matchesSelector({}, labels), true);
    assert.equal(matchesSelector(undefined, undefined), true);
  });

  test('matchLabels needs every label with its value', () => {
    assert.equal(matchesSelector({ matchLabels: { team: 'a' } }, labels), true);
    assert.equal(matchesSelector({ matchLabels: { team: 'a', env: 'dev' } }, labels), false);
    assert.equal(matchesSelector({ matchLabels: { team: 'a' } }, {}), false);
  });

  test('expressions as the apiserver reads them; NotIn and DoesNotExist match a missing key', () => {
    const cases: [Parameters<typeof matchesSelector>[0], boolean][] = [
      [{ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'dev'] }] }, true],
      [{ matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] }, false],
      [{ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] }, true],
      [{ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, false],
      [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] }, true],
      [{ matchExpressions: [{ key: 'team', operator: 'Exists' }] }, true],
      [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
      [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
      [
        {
          matchLabels: { team: 'a' },
          matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }],
        },
        false,
      ],
    ];
    for (const [selector, want] of cases) assert.equal(matchesSelector(selector, labels), want);
  });

  test('the schema refuses In without values and Exists with values, naming the field', () => {
    const bad = labelSelectorSchema.safeParse({
      matchExpressions: [
        { key: 'a', operator: 'In' },
        { key: 'b', operator: 'Exists', values: ['x'] },
      ],
    });
    assert.equal(bad.success, false);
    assert.deepEqual(
      bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      [
        'matchExpressions.0.values: In and NotIn need values; Exists and DoesNotExist take none',
        'matchExpressions.1.values: In and NotIn need values; Exists and DoesNotExist take none',
      ],
    );
    assert.equal(labelSelectorSchema.safeParse({ matchLabels: { 'bad key!': 'x' } }).success, false);
    assert.equal(
      labelSelectorSchema.safeParse({ matchLabels: { 'kubernetes.io/metadata.name': 'apps' } }).success,
      true,
    );
  });
});
