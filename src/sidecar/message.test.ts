import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { HeaderBlock } from './header-block.ts';
import { CHUNK, parseJsonMessage, postMessageSchema, splitRawMessage, storedJsonMessage } from './message.ts';

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

it('refuses a bad body naming the field, what is wrong and what would be valid', () => {
  const ok = { to: 'a@example.com', subject: 'Hi', text: 'Hello' };
  const refusal = (body: unknown) => {
    try {
      parseJsonMessage(body);
    } catch (err) {
      const e = err as { reason: string; field?: string; message: string };
      return { reason: e.reason, field: e.field, message: e.message };
    }
    assert.fail(`accepted ${JSON.stringify(body)}`);
  };
  const address = /one email address \(a@example\.com or "Name <a@example\.com>"\)/;
  // One string or one element of a list: the address itself is named, not zod's "Invalid input".
  assert.deepEqual(refusal({ ...ok, to: 'nope' }).field, 'to');
  assert.match(refusal({ ...ok, to: 'nope' }).message, address);
  assert.equal(refusal({ ...ok, cc: ['b@example.com', 'x'] }).field, 'cc.1');
  assert.match(refusal({ ...ok, cc: ['b@example.com', 'x'] }).message, address);
  assert.match(
    refusal({ ...ok, bcc: 7 }).message,
    /^bcc: must be an address .* or a list of at most \d+ of them$/,
  );
  assert.equal(refusal({ to: 'a@example.com', text: 'x' }).message, 'subject: is required (string)');
  assert.match(
    refusal({ ...ok, headers: { 'Bad Name': 'v' } }).message,
    /^headers\.Bad Name: must be a header field name/,
  );
  assert.match(
    refusal({ ...ok, toAddress: 'x' }).message,
    /^unknown field "toAddress": the fields are to, cc, bcc, subject/,
  );
  assert.match(refusal([ok]).message, /^the body must be a JSON object such as/);
  for (const body of [
    { ...ok, to: 'nope' },
    { ...ok, bcc: 7 },
    { ...ok, subject: 5 },
  ]) {
    assert.doesNotMatch(refusal(body).message, /Invalid input/);
  }
});

it('reads the header block of a raw message as it arrives, however its chunks fall', () => {
  const messages = [
    'Subject: a\r\nX-A: 1\r\n\r\nbody\r\n\r\nmore',
    'Subject: b\nX-A: 1\n\nbody\r\n\r\n',
    'Subject: c\r\nX-A: 1\r\n\nbody',
    'Subject: no body at all\r\n',
  ];
  for (const text of messages) {
    const raw = Buffer.from(text);
    // The fields, and where the body starts (the door hands both on to compose).
    const split = (b: Buffer) => {
      try {
        const s = splitRawMessage(b);
        return { headers: s.headers, bodyStart: b.length - s.body.length };
      } catch (err) {
        return (err as Error).message;
      }
    };
    const whole = split(raw);
    for (let a = 0; a <= raw.length; a++) {
      for (let b = a; b <= raw.length; b++) {
        const h = new HeaderBlock();
        for (const c of [raw.subarray(0, a), raw.subarray(a, b), raw.subarray(b)]) if (!h.done) h.add(c);
        assert.deepEqual(split(h.block()), whole, `${JSON.stringify(text)} cut at ${a}, ${b}`);
        assert.ok(h.block().length <= raw.length);
      }
    }
  }
});

it('reads a stored body back in the form the schema gives it, without validating it again', () => {
  const bodies = [
    { to: 'a@example.com', subject: 'Hi', text: 'Hello' },
    {
      to: ['A <a@example.com>', 'b@example.org'],
      cc: 'c@example.org',
      bcc: ['d@example.org'],
      subject: 'Grüße',
      html: '<p>x</p>',
      text: 'x',
      headers: { 'X-Tag': 'v' },
      idempotencyKey: 'k',
    },
  ];
  for (const body of bodies) {
    const m = postMessageSchema.parse(body);
    const schema = {
      to: m.to,
      cc: m.cc ?? [],
      bcc: m.bcc ?? [],
      subject: m.subject,
      headers: m.headers ?? {},
    };
    const expected = {
      ...schema,
      ...(m.text !== undefined ? { text: m.text } : {}),
      ...(m.html !== undefined ? { html: m.html } : {}),
    };
    assert.deepEqual(storedJsonMessage(Buffer.from(JSON.stringify(body))), expected);
  }
});
