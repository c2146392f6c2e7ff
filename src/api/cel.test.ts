import assert from 'node:assert/strict';
import { test } from 'node:test';
import { celString, durationRangeRule, durationRe2, keysNotInRule } from './cel.ts';
import { durationSchema } from './duration.ts';

test('celString escapes backslashes, quotes and line breaks', () => {
  assert.equal(celString(`a"b\\c'd\r\n`), `"a\\"b\\\\c'd\\r\\n"`);
});

test('the RE2 duration pattern reads the same language as durationSchema', () => {
  const zodRegex = durationSchema(0, Number.MAX_SAFE_INTEGER);
  const re2 = new RegExp(durationRe2);
  for (const text of ['10s', '1h30m', '250ms', '1.5h', '0s', '10', 's', '1d', '1h 30m', '-1s', '1.s', ''])
    assert.equal(re2.test(text), zodRegex.safeParse(text).success, text);
});

test('durationRangeRule names Go durations and guards duration() with the pattern', () => {
  const { rule, message } = durationRangeRule(10_000, 86_400_000, 'must be between 10s and 24h');
  assert.match(
    rule,
    /^!self\.matches\(.*\) \|\| \(duration\(self\) >= duration\("10s"\) && duration\(self\) <= duration\("24h"\)\)$/,
  );
  assert.equal(message, 'must be between 10s and 24h');
  assert.match(durationRangeRule(1500, 90_000, 'x').rule, /duration\("1500ms"\).*duration\("90s"\)/);
});

test('keysNotInRule compares case-insensitively and names the key in its message', () => {
  const r = keysNotInRule(['from', 'to'], 'is reserved');
  assert.equal(r.rule, 'size(self.filter(k, k.lowerAscii() in ["from", "to"])) == 0');
  assert.match(r.messageExpression!, /\[0\] \+ "\\" is reserved"$/);
});
