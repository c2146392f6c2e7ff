/**
 * A large message is written into the queue in parts while it arrives (payload-writer.ts); its
 * message row, committed last, is what makes them a message. SIGKILL the sidecar (a real process)
 * while a large SMTP message is half received: its parts are on disk, no message is; after a
 * restart on the same data directory they are gone, nothing of the cut message is ever sent, and
 * the queue works on.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, it } from 'node:test';
import { PAYLOAD_PART } from '../../src/sidecar/limits.ts';
import { post, type SidecarProcess, sidecarArgs, spawnSidecar } from '../support/sidecar-harness.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Rows of the queue file, read on a connection of the test's own. */
function count(dir: string, sql: string): number {
  const db = new DatabaseSync(join(dir, 'queue.db'), { readOnly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

it('drops the parts of a message cut short by a crash, and never sends it', { timeout: 60_000 }, async () => {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const args = sidecarArgs(tmp.dir, upstream.port);
  let sc: SidecarProcess = await spawnSidecar(args);
  cleanups.push(() => sc.kill('SIGKILL'));

  // An SMTP transaction whose DATA stops after three parts' worth of body, without its final dot.
  const socket = connect(sc.smtpPort, '127.0.0.1');
  socket.on('error', () => {});
  let replies = '';
  socket.on('data', (d: Buffer) => {
    replies += String(d);
  });
  const reply = (code: string) =>
    waitFor(() => replies.includes(`\r\n${code} `) || replies.startsWith(`${code} `), 10_000, code);
  await reply('220');
  socket.write('EHLO test.example\r\nMAIL FROM:<app@example.org>\r\nRCPT TO:<user@example.org>\r\nDATA\r\n');
  await reply('354');
  socket.write(`Subject: cut short\r\n\r\n${`${'z'.repeat(998)}\r\n`.repeat((3 * PAYLOAD_PART) / 1000)}`);
  await waitFor(
    () => count(tmp.dir, 'SELECT count(*) AS n FROM payloads') >= 2,
    20_000,
    'parts of the message being received on disk',
  );
  await sc.kill('SIGKILL');
  socket.destroy();
  assert.ok(count(tmp.dir, 'SELECT count(*) AS n FROM payloads') >= 2, 'parts left by the crash');
  assert.equal(
    count(tmp.dir, 'SELECT count(*) AS n FROM messages'),
    0,
    'no message: it was never acknowledged',
  );

  sc = await spawnSidecar(args);
  const r = await post(sc.httpPort, { to: 'user@example.org', subject: 'after the crash', text: 'hi' });
  assert.equal(r.status, 202);
  await waitFor(
    () => upstream.received.find((m) => m.headers.get('subject') === 'after the crash'),
    20_000,
    'the next message delivered',
  );
  assert.equal(
    count(tmp.dir, 'SELECT count(*) AS n FROM payloads WHERE seq NOT IN (SELECT seq FROM messages)'),
    0,
    'no parts without their message',
  );
  assert.ok(!upstream.received.some((m) => m.headers.get('subject') === 'cut short'));
});
