import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { it } from 'node:test';
import { type ComposeConfig, composeRaw } from './compose.ts';
import { CHUNK, splitRawMessage } from './message.ts';

const at = Date.UTC(2026, 10, 30, 1, 2, 3);

async function text(raw: Buffer | Readable | undefined): Promise<string> {
  if (Buffer.isBuffer(raw)) return raw.toString('latin1');
  const parts: Buffer[] = [];
  for await (const c of raw as Readable) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('latin1');
}

it("rewrites an SMTP message's header block with the config's From and headers, its body byte for byte", async () => {
  const cfg: ComposeConfig = {
    from: { name: 'Shop "One"', address: 'shop@example.org' },
    headers: { 'X-Tag': 'Grüße', 'X-Plain': 'v' },
  };
  const raw = Buffer.from(
    [
      'From: root@localhost',
      'sender: s@localhost',
      'Return-Path: <r@localhost>',
      'Bcc: hidden@example.org',
      'x-tag: app value',
      'Subject:no space',
      'To: a@example.org,',
      '\tb@example.org',
      'Message-Id:  <app-id@host>  ',
      'Message-ID: <second@host>',
      '',
      'line 1',
      'line 2 bare LF\n.',
    ].join('\r\n'),
    'latin1',
  );
  const c = composeRaw(raw, ['a@example.org'], 'ID', at, cfg);
  assert.equal(c.messageId, '<app-id@host>');
  assert.deepEqual(c.envelope, { from: 'shop@example.org', to: ['a@example.org'] });
  assert.equal(
    await text(c.raw),
    [
      'From: "Shop \\"One\\"" <shop@example.org>',
      'Date: Mon, 30 Nov 2026 01:02:03 GMT',
      'Subject: no space',
      'To: a@example.org,',
      '\tb@example.org',
      'Message-Id:  <app-id@host>  ',
      'Message-ID: <second@host>',
      'X-Tag: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=',
      'X-Plain: v',
      '',
      'line 1',
      'line 2 bare LF\r\n.',
    ].join('\r\n'),
  );

  // The same config again (its From line and headers are kept per config): a message with LF line
  // endings, its own Date, no Message-ID.
  const lf = Buffer.from('Date: Sun, 1 Nov 2026 00:00:00 +0000\nSubject: b\n\nbody\n', 'latin1');
  const d = composeRaw(lf, ['a@example.org'], 'ID2', at, cfg);
  assert.equal(d.messageId, '<ID2@example.org>');
  assert.equal(
    await text(d.raw),
    [
      'From: "Shop \\"One\\"" <shop@example.org>',
      'Message-ID: <ID2@example.org>',
      'Date: Sun, 1 Nov 2026 00:00:00 +0000',
      'Subject: b',
      'X-Tag: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=',
      'X-Plain: v',
      '',
      'body',
      '',
    ].join('\r\n'),
  );

  // Another config object: its own From and headers, not the first one's.
  const other = composeRaw(lf, ['a@example.org'], 'ID3', at, {
    from: { address: 'no-reply@example.net' },
    headers: {},
  });
  assert.match(await text(other.raw), /^From: no-reply@example.net\r\nMessage-ID: <ID3@example.net>\r\n/);
  assert.doesNotMatch(await text(other.raw), /X-Tag/);
});

it('streams a large SMTP message in chunks, with the same header block', async () => {
  const cfg: ComposeConfig = { from: { address: 'no-reply@example.com' }, headers: {} };
  const body = `${'x'.repeat(CHUNK)}\n${'y'.repeat(10)}\r\n`;
  const raw = Buffer.from(`Subject: big\r\nDate: d\r\n\r\n${body}`, 'latin1');
  const c = composeRaw(raw, ['a@example.org'], 'ID', at, cfg);
  assert.ok(!Buffer.isBuffer(c.raw));
  const out = await text(c.raw);
  const head =
    'From: no-reply@example.com\r\nMessage-ID: <ID@example.com>\r\nSubject: big\r\nDate: d\r\n\r\n';
  assert.equal(out.slice(0, head.length), head);
  // Byte for byte but for the bare LF, which becomes CRLF.
  assert.ok(out.slice(head.length) === body.replace('x\ny', 'x\r\ny'), 'the body as sent');
});

it("composes from the door's reading of the header block when it is handed on, the same bytes", async () => {
  const cfg: ComposeConfig = { from: { address: 'no-reply@example.com' }, headers: { 'X-Tag': 't' } };
  const block = Buffer.from('From: root@localhost\r\nSubject: s\r\n Folded\r\n\r\n', 'latin1');
  const raw = Buffer.concat([block, Buffer.from('body\r\n')]);
  // What the SMTP door hands on: its split of the header block alone.
  const split = splitRawMessage(block);
  const head = { headers: split.headers, bodyStart: block.length - split.body.length };
  const read = await text(composeRaw(raw, ['a@example.org'], 'ID', at, cfg).raw);
  assert.equal(await text(composeRaw(raw, ['a@example.org'], 'ID', at, cfg, head).raw), read);
  // Used as it is: the fields come from it, the body from where it says the body starts.
  const other = { headers: [{ name: 'Subject', value: 'from the door' }], bodyStart: block.length };
  assert.match(
    await text(composeRaw(raw, ['a@example.org'], 'ID', at, cfg, other).raw),
    /\r\nSubject: from the door\r\nX-Tag: t\r\n\r\nbody\r\n$/,
  );
});
