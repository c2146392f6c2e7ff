import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { CHUNK, parseJsonMessage } from './message.ts';

it('fingerprints a large body chunk by chunk exactly as the whole body (keys stored before still match)', () => {
  // An emoji (a surrogate pair) across a chunk boundary: a chunk ending on half of it would hash U+FFFD.
  const text = `${'a'.repeat(CHUNK - 1)}😀${'ü'.repeat(3 * CHUNK)}`;
  const body = { to: 'a@example.com', subject: 'Hi', text };
  const whole = createHash('sha256')
    .update(JSON.stringify({ to: ['a@example.com'], cc: [], bcc: [], subject: 'Hi', headers: {} }))
    .update(`\0+${text}\0-`)
    .digest('base64url');
  assert.equal(parseJsonMessage(body, 'k').fingerprint, whole);
  assert.notEqual(parseJsonMessage({ ...body, text: `${text}.` }, 'k').fingerprint, whole);
});
