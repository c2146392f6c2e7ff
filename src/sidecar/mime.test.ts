import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressparser, mailComposer, mimeNode } from './mail-libs.ts';
import { buildSimpleMessage, plainAddress, type SimpleMessage } from './mime.ts';

/** nodemailer's own rendering of the same message (MailComposer, as `sendMail` builds it). */
function byNodemailer(m: SimpleMessage): Promise<string> {
  return new Promise((resolve, reject) =>
    new (mailComposer())({ ...m }).compile().build((err, b) => (err ? reject(err) : resolve(b.toString()))),
  );
}

/** Header fields (unfolded, by lower-case name) and the parts' bodies with the boundary lines taken out. */
function shape(message: string): { headers: Map<string, string>; parts: string[] } {
  const text = message.replace(/\r?\n/g, '\r\n');
  const end = text.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const field of text
    .slice(0, end)
    .replace(/\r\n[ \t]/g, ' ')
    .split('\r\n')) {
    const colon = field.indexOf(':');
    headers.set(field.slice(0, colon).toLowerCase(), field.slice(colon + 1).trim());
  }
  const boundary = /boundary="([^"]+)"/.exec(headers.get('content-type') ?? '')?.[1];
  const body = text.slice(end + 4);
  const parts = boundary
    ? body
        .split(`--${boundary}`)
        .slice(1, -1)
        .map((p) => p.trim())
    : [body.trim()];
  if (boundary) headers.set('content-type', 'multipart/alternative');
  return { headers, parts };
}

const base = { messageId: '<id-1@example.com>', date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)) };
const cases: Array<[string, SimpleMessage]> = [
  [
    'ASCII text, plain addresses',
    {
      ...base,
      from: { name: '', address: 'no-reply@example.com' },
      to: ['user@example.org'],
      subject: 'Your code',
      text: 'Your code is 123456.\n',
    },
  ],
  [
    'display names (quoted, encoded), an IDN domain, Cc, headers of the app and of the config',
    {
      ...base,
      from: { name: 'Acme Ünï', address: 'no-reply@example.com' },
      to: ['a@example.org', 'Jöhn Doe <j@exämple.org>', '"Doe, Jane" <jd@example.org>'],
      cc: ['Ops <ops@example.org>'],
      subject: 'Grüße aus Köln, und ein sehr langer Betreff, der gefaltet werden muss, damit er passt',
      text: 'Grüße aus Köln\nZeile zwei\n',
      headers: {
        'X-Tag': 'värde',
        'List-Unsubscribe': '<mailto:u@example.com>',
        'Reply-To': 'Süpport <s@exämple.org>',
      },
    },
  ],
  [
    'mostly non-Latin text (base64), a long line (quoted-printable html)',
    {
      ...base,
      from: { name: 'Acme', address: 'no-reply@example.com' },
      to: ['josé@example.org'],
      subject: '日本語',
      text: '日本語のテキストです。\n',
      html: `<p>${'a long line '.repeat(20)}</p>`,
    },
  ],
  [
    'many plain recipients (a folded To), a plain Cc',
    {
      ...base,
      from: { name: '', address: 'no-reply@example.com' },
      to: Array.from({ length: 12 }, (_, i) => `user.${i}+tag@mail${i}.example.org`),
      cc: ['ops@example.org'],
      subject: 'Hi all',
      text: 'Hello.\n',
    },
  ],
  [
    'html only, 7bit',
    {
      ...base,
      from: { name: 'Acme', address: 'no-reply@example.com' },
      to: ['u@example.org'],
      subject: 'Hi',
      html: '<p>Hi</p>',
    },
  ],
];

describe('buildSimpleMessage', () => {
  for (const [name, m] of cases) {
    it(`says what nodemailer says: ${name}`, async () => {
      const ours = shape(buildSimpleMessage(m)!.toString('utf8'));
      const theirs = shape(await byNodemailer(m));
      assert.deepEqual(Object.fromEntries(ours.headers), Object.fromEntries(theirs.headers));
      assert.deepEqual(ours.parts, theirs.parts);
    });
  }

  it('leaves streamed bodies and Content-* headers of the app to MailComposer', async () => {
    const { Readable } = await import('node:stream');
    const m = { ...base, from: { name: '', address: 'a@example.com' }, to: ['b@example.org'], subject: 's' };
    assert.equal(buildSimpleMessage({ ...m, text: Readable.from(['x']) }), undefined);
    assert.equal(buildSimpleMessage({ ...m, text: 'x', headers: { 'Content-Language': 'de' } }), undefined);
  });
});

describe('plainAddress', () => {
  const node = new (mimeNode())(false, { baseBoundary: 'unused' });
  const byNodemailer = (name: string, list: string[]) => node.encodeHeaderValue(name, list.join(', '));

  it('takes only addresses nodemailer writes as they are', () => {
    const plain = [
      'user@example.org',
      'First.Last+tag@mail.example-host.co.uk',
      'a_b%c-d@x1.example',
      'UPPER@lower.example',
      '0@0.io',
    ];
    for (const a of plain) assert.ok(plainAddress(a), a);
    assert.equal(byNodemailer('To', plain), plain.join(', '));
    for (const a of plain) assert.deepEqual(addressparser(a), [{ address: a, name: '' }], a);
    assert.equal(byNodemailer('Cc', plain), plain.join(', '));
    const other = [
      'user@Example.org',
      'user@exämple.org',
      'josé@example.org',
      'user@xn--exmple-cua.org',
      '"a b"@example.org',
      'a..b@example.org',
      '.a@example.org',
      'a.@example.org',
      'a@example',
      'a@-x.example',
      'a@x-.example',
      'a@[127.0.0.1]',
      'Jane <j@example.org>',
      "o'brien@example.org",
      'a@b@example.org',
      'a b@example.org',
      '',
    ];
    for (const a of other) assert.equal(plainAddress(a), false, a);
  });

  it('agrees with nodemailer on random addresses of its characters', () => {
    const local = 'aZ09_%+-.';
    const domain = 'az09-.';
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const word = (chars: string, max: number) =>
      Array.from({ length: 1 + rnd(max) }, () => chars[rnd(chars.length)]).join('');
    let taken = 0;
    for (let i = 0; i < 3000; i++) {
      const a = `${word(local, 12)}@${word(domain, 10)}.${word('az', 4)}`;
      if (!plainAddress(a)) continue;
      taken++;
      assert.equal(byNodemailer('To', [a, a]), `${a}, ${a}`, a);
      // The door takes it as one mailbox without parsing it (message.ts): the parser agrees.
      assert.deepEqual(addressparser(a), [{ address: a, name: '' }], a);
    }
    assert.ok(taken > 300, `${taken} of 3000 were plain`);
  });
});
