import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { REDACTED, Redactor, redactRecord, redactUris, secretForms } from './redact.ts';

/** Every 6-character window of `secret` (by code point) that `text` contains. */
function leakedWindows(text: string, secret: string): string[] {
  const cps = [...secret];
  const out: string[] = [];
  for (let i = 0; i + 6 <= cps.length; i++) {
    const w = cps.slice(i, i + 6).join('');
    if (text.includes(w)) out.push(w);
  }
  return out;
}

describe('redactUris', () => {
  const table: Array<[string, string]> = [
    [
      'dial smtp://mailer:s3cret@smtp.example.com:587/ failed',
      'dial smtp://mailer:***@smtp.example.com:587/ failed',
    ],
    ['smtp://u:pa ss "q" \'x\'@h:25/', 'smtp://u:***@h:25/'],
    ['smtp://u:pä😀ss@h', 'smtp://u:***@h'],
    ['smtp://u:Secr3t/Pa55word=@h.example:587/ x', 'smtp://u:***@h.example:587/ x'],
    ['smtp://u:a?b#c:d@h/', 'smtp://u:***@h/'],
    ['smtp://u:ab@cd@ef@h/ then x', 'smtp://u:***@h/ then x'],
    ['SMTPS://u:p%2Fw@h', 'SMTPS://u:***@h'],
    ['"smtp://u:pw@h"', '"smtp://u:***@h"'],
    ['the URI smtp://u:BHxX3cSECR', 'the URI smtp://u:***'],
    ['smtp://u:BHxX3c/SECR and more', 'smtp://u:*** and more'],
    ['a smtp://u:p1@h and smtps://v:p2@k', 'a smtp://u:***@h and smtps://v:***@k'],
    ['line smtp://u:p1\nnext@x', 'line smtp://u:***\nnext@x'],
  ];
  for (const [input, want] of table) {
    it(`redacts ${JSON.stringify(input)}`, () => assert.equal(redactUris(input), want));
  }
  const kept = [
    'smtp://h.example:587/ failed for no-reply@example.com',
    'smtp://h.example:587',
    'smtp://[::1]:2525/ user@x',
    'smtp://u:***@h.example:587/ MAIL FROM:<a@b.example> rejected',
    'https://example.com/docs#x',
    'no uri here: a@b',
    '://:@',
  ];
  for (const input of kept) {
    it(`keeps ${JSON.stringify(input)}`, () => assert.equal(redactUris(input), input));
  }

  it('runs in linear time on hostile input', () => {
    const hostile = [
      'a'.repeat(200_000),
      'a://'.repeat(50_000),
      `smtp://u:${'x'.repeat(200_000)}`,
      `smtp://u:${'@'.repeat(200_000)}`,
      `${'smtp://u:p'.repeat(20_000)}@`,
      `smtp://${':'.repeat(200_000)}`,
      'smtp://u:1@'.repeat(20_000),
      `smtp://u:${'@a/'.repeat(70_000)}`,
    ];
    const started = performance.now();
    for (const h of hostile) redactUris(h);
    // A quadratic scan of these takes minutes; a linear one well under a second in all (a loaded
    // machine included).
    assert.ok(performance.now() - started < 5000, `${performance.now() - started} ms`);
  });
});

describe('Redactor', () => {
  it('removes raw, percent-encoded, JSON-escaped and base64 forms', () => {
    const secret = 'p/ss wörd"+=';
    const r = new Redactor([secret]);
    const texts = [
      `raw ${secret} end`,
      `enc ${encodeURIComponent(secret)} end`,
      `json ${JSON.stringify({ m: secret })}`,
      `b64 ${Buffer.from(secret).toString('base64')}`,
      `plain ${Buffer.from(`\0mailer\0${secret}`).toString('base64')}`,
      `plain ${Buffer.from(`\0ab\0${secret}`).toString('base64url')}`,
      `cut at the end ${secret.slice(0, 8)}…`,
    ];
    for (const t of texts) {
      const out = r.text(t);
      assert.ok(out.includes(REDACTED), out);
      assert.deepEqual(leakedWindows(out, secret), [], out);
      for (const form of secretForms(secret)) assert.equal(out.includes(form), false, `${out} holds ${form}`);
    }
  });

  it('copies errors with message, stack and cause redacted, keeping code and reason', () => {
    const r = new Redactor(['hunter22']);
    const cause = Object.assign(new Error('login hunter22 refused'), { code: 'EAUTH' });
    const err = Object.assign(new Error('send failed: hunter22', { cause }), {
      reason: 'AuthenticationFailed',
    });
    const copy = r.error(err) as Error & { reason?: string; cause: Error & { code?: string } };
    assert.equal(copy.message, 'send failed: ***');
    assert.equal(copy.reason, 'AuthenticationFailed');
    assert.equal(copy.cause.code, 'EAUTH');
    assert.equal(copy.cause.message, 'login *** refused');
    assert.equal(copy.stack?.includes('hunter22'), false);
  });

  it('redacts a password that holds "://" with no scheme before it (found by the property below, seed 698566566)', () => {
    assert.equal(
      redactUris('x smtp://mailer:://      @h.example:587/ y'),
      'x smtp://mailer:***@h.example:587/ y',
    );
    assert.equal(
      redactUris('smtp://u:a ://b@h/ then https://example.org/'),
      'smtp://u:***@h/ then https://example.org/',
    );
  });

  it('redacts log records deeply and censors secret-named fields', () => {
    const r = new Redactor(['hunter22']);
    const out = redactRecord({ a: { b: ['x hunter22'] }, password: 'anything', uri: 'smtp://u:zz@h' }, r);
    assert.deepEqual(out, { a: { b: ['x ***'] }, password: REDACTED, uri: 'smtp://u:***@h' });
  });

  // Printable ASCII (every URI delimiter, space, quotes) and unicode.
  const passwordArb = fc.string({
    unit: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    ),
    minLength: 6,
    maxLength: 40,
  });

  it('property: no 6-character window of a password survives any form in any text', () => {
    fc.assert(
      fc.property(
        passwordArb,
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        (pw, before, after) => {
          // Context text that already holds a window could not tell a leak from the context.
          fc.pre(leakedWindows(before + REDACTED + after, pw).length === 0);
          const r = new Redactor([pw]);
          const user = 'mailer';
          const forms = [
            pw,
            encodeURIComponent(pw),
            JSON.stringify(pw),
            Buffer.from(pw).toString('base64'),
            Buffer.from(`\0${user}\0${pw}`).toString('base64'),
            Buffer.from(pw)
              .toString('latin1')
              .replace(/[^\x20-\x7e]/g, '?'),
            pw.replace(/[^\x20-\x7e]/g, '?'),
            `smtp://${user}:${pw}@h.example:587/`,
            `smtp://${user}:${encodeURIComponent(pw)}@h.example:587/`,
          ];
          for (const f of forms) {
            const out = r.text(`${before}${f}${after}`);
            assert.deepEqual(leakedWindows(out, pw), [], out);
            // The URI layer alone covers URIs, whatever the password.
            if (f.startsWith('smtp://'))
              assert.deepEqual(leakedWindows(redactUris(`${before} ${f} ${after}`), pw), []);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
