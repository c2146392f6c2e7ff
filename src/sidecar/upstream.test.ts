import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { type Transform, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { startUpstream } from '../../test/support/sidecar-upstream.ts';
import { inOneWrite, Upstream } from './upstream.ts';

// nodemailer's own dot-stuffing stream, the one its connection pipes a message through.
const DataStream = createRequire(import.meta.url)(
  'nodemailer/lib/smtp-connection/data-stream',
) as new () => Transform;

/** What a socket would be asked to write: each call's chunks (several for one writev). */
function recorder(): { sink: Writable; writes: Buffer[][] } {
  const writes: Buffer[][] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push([chunk]);
      cb();
    },
    writev(chunks, cb) {
      writes.push(chunks.map((c) => c.chunk as Buffer));
      cb();
    },
  });
  return { sink, writes };
}

/** Pipes a message into a fresh DataStream the way nodemailer's connection does; resolves at its end. */
async function through(feed: (data: Transform) => void): Promise<Buffer[][]> {
  const { sink, writes } = recorder();
  const data = new DataStream();
  data.pipe(sink, { end: false });
  const ended = new Promise((resolve) => data.once('end', resolve));
  feed(data);
  await ended;
  return writes;
}

const bodies: Array<[string, Buffer]> = [
  ['plain lines', Buffer.from('Subject: a\r\n\r\nhello\r\nworld\r\n')],
  ['lines that start with a dot', Buffer.from('Subject: b\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n')],
  ['no final line break', Buffer.from('Subject: c\r\n\r\nlast line')],
  ['bare LF and bare CR', Buffer.from('Subject: d\n\nx\ry\n.z\r')],
  [
    'a body past the stream buffer',
    Buffer.from(`Subject: e\r\n\r\n${'.0123456789abcdef\r\n'.repeat(20_000)}`),
  ],
];

describe('inOneWrite', () => {
  for (const [what, body] of bodies) {
    it(`writes ${what} and the terminator as nodemailer would, in one write`, async () => {
      const before = await through((data) => {
        data.write(body);
        data.end();
      });
      const now = await through((data) => inOneWrite(body).pipe(data));
      assert.deepEqual(Buffer.concat(now.flat()), Buffer.concat(before.flat()), 'the same bytes');
      assert.ok(before.length >= 2, 'written as a Buffer: the body, then the terminator');
      assert.equal(now.length, 1, 'one write');
      assert.equal(now[0]!.length, 1, 'of one chunk');
    });
  }
});

describe('Upstream', () => {
  const pools: Upstream[] = [];
  after(() => {
    for (const p of pools) p.close();
  });

  it('delivers a small message byte for byte, lines that start with a dot included', async () => {
    const server = await startUpstream();
    const pool = new Upstream(
      { host: '127.0.0.1', port: server.port, ignoreTLS: true, pool: true },
      () => {},
    );
    pools.push(pool);
    const raw = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: dots\r\n\r\n.one\r\n..two\r\n.\r\nlast';
    const to = ['b@example.org', 'c@example.org'];
    for (const n of [1, 2, 3]) {
      const info = await pool.send({
        envelope: { from: 'a@example.com', to },
        messageId: `<m${n}@example.com>`,
        body: Buffer.from(`${raw} ${n}`),
      });
      assert.match(String(info.response), /^250 /);
    }
    assert.deepEqual(
      server.received.map((r) => [r.mailFrom, r.rcptTo, r.raw]),
      [1, 2, 3].map((n) => ['a@example.com', to, `${raw} ${n}\r\n`]),
    );
    await server.close();
  });
});
