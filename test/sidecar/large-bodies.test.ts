/**
 * Large bodies go upstream in chunks (src/sidecar/compose.ts): what arrives is byte for byte what
 * a whole-body send would give. Through a real sidecar and a real upstream: a JSON message whose
 * text is mostly non-Latin, with a surrogate pair across a chunk boundary, and whose html is one
 * long ASCII line; a raw SMTP message with bare LFs, CRLFs and a CR/LF pair split by a chunk
 * boundary, which arrives with CRLF line endings and nothing else changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK } from '../../src/sidecar/message.ts';
import { sidecarFixture } from '../support/sidecar-fixture.ts';
import { post } from '../support/sidecar-harness.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';

/** One SMTP transaction, the DATA written as given; returns the last reply. */
async function sendRaw(port: number, data: string): Promise<string> {
  const replies = await smtpSession(port, [
    'EHLO test.example',
    'MAIL FROM:<app@example.org>',
    'RCPT TO:<user@example.org>',
    'DATA',
    `${data}\r\n.`, // the session adds the final CRLF: the body ends with CRLF.CRLF
  ]);
  return replies.at(-1)!;
}

/** The decoded body of one MIME part of `raw` whose Content-Type starts with `type`. */
function part(raw: string, type: string): string {
  const at = raw.search(new RegExp(`Content-Type: ${type}`, 'i'));
  assert.ok(at >= 0, `a ${type} part`);
  // The part's header block: from its boundary line (or the top of the message) to the blank line.
  const start = Math.max(0, raw.lastIndexOf('\n--', at));
  const headEnd = raw.indexOf('\r\n\r\n', at);
  const head = raw.slice(start, headEnd);
  const body = raw
    .slice(headEnd + 4)
    .split(/\r\n--/)[0]!
    .replace(/\r\n$/, '');
  const cte = /Content-Transfer-Encoding: (\S+)/i.exec(head)?.[1]?.toLowerCase();
  if (cte === 'base64') return Buffer.from(body.replace(/\r\n/g, ''), 'base64').toString('utf8');
  assert.equal(cte, 'quoted-printable', head);
  const bytes = body
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})|[^=]/g, (m, hex: string | undefined) =>
      hex ? String.fromCharCode(Number.parseInt(hex, 16)) : m,
    );
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Equal up to CRLF vs LF (line breaks in a text part are the encoder's choice); short failure text. */
function sameText(actual: string, expected: string, what: string): void {
  const a = actual.replace(/\r\n/g, '\n');
  const e = expected.replace(/\r\n/g, '\n');
  let at = 0;
  while (at < a.length && a[at] === e[at]) at++;
  assert.ok(
    a === e,
    `${what}: ${a.length} vs ${e.length} characters, first difference at ${at}: ${JSON.stringify(a.slice(at, at + 20))} vs ${JSON.stringify(e.slice(at, at + 20))}`,
  );
}

describe('large bodies', () => {
  const f = sidecarFixture();
  const { arrived } = f;

  it('delivers a large JSON message intact: non-Latin text split between chunks, a long html line', async () => {
    // A surrogate pair (an emoji) where a chunk would end, then CJK text for several chunks.
    const text = `${'a'.repeat(CHUNK - 1)}😀${'漢字かな交じり文\n'.repeat(40_000)}end`;
    const html = `<p>${'x'.repeat(3 * CHUNK)}</p>`;
    const r = await post(f.sc.httpPort, { to: 'user@example.org', subject: 'large json', text, html });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const got = await arrived('large json');
    sameText(part(got.raw, 'text/plain'), text, 'text');
    sameText(part(got.raw, 'text/html'), html, 'html');

    // Mostly Latin: quoted-printable, as nodemailer would choose for the whole string.
    const latin = 'Grüße aus Köln, '.repeat(20_000);
    const q = await post(f.sc.httpPort, { to: 'user@example.org', subject: 'large latin', text: latin });
    assert.equal(q.status, 202, JSON.stringify(q.body));
    const got2 = await arrived('large latin');
    assert.match(got2.raw, /Content-Transfer-Encoding: quoted-printable/i);
    sameText(part(got2.raw, 'text/plain'), latin, 'latin text');
  });

  it('delivers a large raw message with its line endings made CRLF and nothing else changed', async () => {
    // The header block is 'Subject: large raw\r\n\r\n' (22 bytes), so the body's chunks start at
    // offsets of the body: put a CR as the last byte of the first chunk and its LF first in the next.
    const first = `${'b'.repeat(CHUNK - 2)}\n\r`;
    const body = `${first}\nline two\nline three\r\n${'c'.repeat(2 * CHUNK)}\nlast line`;
    assert.equal(first.length, CHUNK);
    const reply = await sendRaw(f.sc.smtpPort, `Subject: large raw\r\n\r\n${body}`);
    assert.match(reply, /^250 /);
    const got = await arrived('large raw');
    const delivered = got.raw.slice(got.raw.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, '');
    const want = body.replace(/\r?\n/g, '\r\n');
    assert.ok(
      delivered === want,
      `the raw body arrived changed (${delivered.length} vs ${want.length} bytes)`,
    );
  });
});
