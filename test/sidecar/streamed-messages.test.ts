/**
 * Messages larger than a payload part stream through the sidecar (payload-writer.ts, json-stream.ts,
 * stored-message.ts): written into the queue in parts as they arrive, read back a part at a time
 * when sent. Through a real sidecar and a real upstream: what arrives is what was sent (line endings
 * and escapes across part boundaries), an idempotency key still tells a repeat from another message,
 * and what the doors must keep of a large message to check it is limited.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { PAYLOAD_PART } from '../../src/sidecar/limits.ts';
import { sidecarFixture } from '../support/sidecar-fixture.ts';
import { post } from '../support/sidecar-harness.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';
import { waitFor } from '../support/sidecar-upstream.ts';

describe('streamed messages', () => {
  const f = sidecarFixture();
  const { arrived } = f;
  const parts = () => (f.sc.store.db.prepare('SELECT count(*) AS n FROM payloads').get() as { n: number }).n;

  it('sends a raw message of several parts as it came, line endings made CRLF across part boundaries', async () => {
    const head = 'Subject: streamed raw\r\n\r\n';
    // A CR as the last byte of the first part, its LF first in the second.
    const first = `${'b'.repeat(PAYLOAD_PART - head.length - 1)}\r`;
    const body = `${first}\nline two\nline three\r\n${'c'.repeat(3 * PAYLOAD_PART)}\nlast line`;
    const replies = await smtpSession(f.sc.smtpPort, [
      'EHLO test.example',
      'MAIL FROM:<app@example.org>',
      'RCPT TO:<user@example.org>',
      'DATA',
      `${head}${body}\r\n.`,
    ]);
    assert.match(replies.at(-1)!, /^250 /);
    const got = await arrived('streamed raw');
    const delivered = got.raw.slice(got.raw.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, '');
    assert.ok(
      delivered === body.replace(/\r?\n/g, '\r\n'),
      `the body arrived changed (${delivered.length} bytes)`,
    );
  });

  it('takes a keyed JSON message of several parts once, tells a repeat from another message, and sends its text as written', async () => {
    // Escapes of every kind, an emoji written as a surrogate pair of escapes, across part boundaries.
    const text = `${'Grüße \\ "quoted"\n\t\u0001 😀 漢字 '.repeat(40_000)}end`;
    const body = JSON.stringify({ to: 'user@example.org', subject: 'streamed json', text }).replace(
      /😀/g,
      '\\ud83d\\ude00',
    );
    assert.ok(Buffer.byteLength(body) > 3 * PAYLOAD_PART);
    const key = { 'idempotency-key': 'streamed-1' };
    const first = await post(f.sc.httpPort, body, key);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const again = await post(f.sc.httpPort, body, key);
    assert.deepEqual(again, { status: 200, body: { id: first.body.id, duplicate: true } });
    const other = await post(f.sc.httpPort, body.replace('end"', 'end."'), key);
    assert.equal(other.status, 409, JSON.stringify(other.body));
    const got = await arrived('streamed json');
    const at = got.raw.indexOf('\r\n\r\n');
    assert.match(got.raw.slice(0, at), /Content-Transfer-Encoding: quoted-printable/i);
    const qp = got.raw
      .slice(at + 4)
      .replace(/\r\n$/, '')
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    assert.ok(
      Buffer.from(qp, 'latin1').toString('utf8').replace(/\r\n/g, '\n') === text,
      'the text arrived as sent',
    );
    // The repeat and the refused message left no parts behind; the sent one's are freed.
    await waitFor(() => parts() === 0, 10_000, 'no payload parts left');
  });

  it('refuses what it would have to hold whole: a header block or JSON fields over 1 MiB', async () => {
    const headers = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`X-H${i}`, 'v'.repeat(990)]));
    const big = await post(f.sc.httpPort, {
      to: 'user@example.org',
      subject: 'big fields',
      text: 'x',
      headers,
    });
    assert.equal(big.status, 413, JSON.stringify(big.body));
    assert.match(String(big.body.message), /other than text and html take more than 1048576 bytes/);
    const lines = Array.from({ length: 1100 }, (_, i) => `X-H${i}: ${'v'.repeat(990)}`).join('\r\n');
    const replies = await smtpSession(f.sc.smtpPort, [
      'EHLO test.example',
      'MAIL FROM:<app@example.org>',
      'RCPT TO:<user@example.org>',
      'DATA',
      `Subject: big head\r\n${lines}\r\n\r\nbody\r\n.`,
      'NOOP',
    ]);
    assert.match(replies.at(-2)!, /^552 5\.3\.4 The header block is over 1048576 bytes/);
    assert.match(replies.at(-1)!, /^250 /, 'the session goes on');
    await waitFor(() => parts() === 0, 10_000, 'no payload parts left');
  });

  it('refuses a long text that is not valid JSON, and a long string where only a short one may be', async () => {
    const bad = `{"to":"user@example.org","subject":"bad","text":"${'a'.repeat(2 * PAYLOAD_PART)}\\x"}`;
    const r = await post(f.sc.httpPort, bad);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'InvalidJSON');
    const long = await post(f.sc.httpPort, {
      to: 'user@example.org',
      subject: 's'.repeat(PAYLOAD_PART + 1),
      text: 'x',
    });
    assert.equal(long.status, 400);
    assert.equal(long.body.field, 'subject');
    await waitFor(() => parts() === 0, 10_000, 'no payload parts left');
  });

  it('gives back the memory and the parts of a message whose client goes away mid-body, at both doors', async () => {
    const held = async () => {
      const text = await (await fetch(`http://127.0.0.1:${f.sc.httpPort}/metrics`)).text();
      return Number(/mailroom_sidecar_in_flight_bytes\{budget="accept"[^}]*\} (\d+)/.exec(text)?.[1]);
    };
    const http = connect(f.sc.httpPort, '127.0.0.1');
    http.on('error', () => {});
    http.write(
      'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        `Content-Length: 2000000\r\n\r\n{"to":"user@example.org","subject":"cut","text":"${'a'.repeat(1_000_000)}`,
    );
    await waitFor(() => parts() >= 2, 10_000, 'HTTP parts written');
    assert.ok((await held()) > 0);
    http.destroy();
    await waitFor(
      async () => parts() === 0 && (await held()) === 0,
      10_000,
      'HTTP parts and memory given back',
    );

    const smtp = connect(f.sc.smtpPort, '127.0.0.1');
    smtp.on('error', () => {});
    let replies = '';
    smtp.on('data', (d: Buffer) => {
      replies += String(d);
    });
    await waitFor(() => replies.startsWith('220 '), 10_000, 'banner');
    smtp.write('EHLO t.example\r\nMAIL FROM:<app@example.org>\r\nRCPT TO:<user@example.org>\r\nDATA\r\n');
    await waitFor(() => replies.includes('\r\n354 '), 10_000, '354');
    smtp.write(`Subject: cut\r\n\r\n${`${'z'.repeat(998)}\r\n`.repeat(1000)}`);
    await waitFor(() => parts() >= 2, 10_000, 'SMTP parts written');
    smtp.destroy();
    await waitFor(
      async () => parts() === 0 && (await held()) === 0,
      10_000,
      'SMTP parts and memory given back',
    );
  });
});

describe('a streamed message over the queue quota', () => {
  // Room for one part or so: the quota refuses a large body while its parts are being written.
  const f = sidecarFixture({ maxQueueBytes: 3 * PAYLOAD_PART });
  const parts = () => (f.sc.store.db.prepare('SELECT count(*) AS n FROM payloads').get() as { n: number }).n;

  it('is refused with "try later" at both doors, and leaves no parts behind', async () => {
    // No Content-Length (chunked), so the door cannot refuse before it reads: the parts meet the quota.
    const text = 'q'.repeat(8 * PAYLOAD_PART);
    const res = await fetch(`http://127.0.0.1:${f.sc.httpPort}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([JSON.stringify({ to: 'user@example.org', subject: 'over quota', text })]).stream(),
      duplex: 'half',
    } as RequestInit);
    const body = (await res.json()) as { error: string };
    assert.equal(res.status, 507, JSON.stringify(body));
    assert.equal(body.error, 'QueueFull');
    assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');

    const replies = await smtpSession(f.sc.smtpPort, [
      'EHLO test.example',
      'MAIL FROM:<app@example.org>',
      'RCPT TO:<user@example.org>',
      'DATA',
      `Subject: over quota\r\n\r\n${`${'z'.repeat(998)}\r\n`.repeat(2500)}.`,
    ]);
    assert.match(replies.at(-1)!, /^452 4\.3\.1 /, replies.join('\n'));
    await waitFor(() => parts() === 0, 10_000, 'no payload parts left');
  });
});
