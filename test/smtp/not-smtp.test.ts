/**
 * Peers that do not speak SMTP are named by protocol, and nothing they send reaches the result
 * (issue 11: the probe must not be a port scanner with a display). Real peers where the machine has
 * them: an HTTP server, a TLS server (smtp-server in implicit TLS, probed as smtp://), FTP-like and
 * SSH-like peers scripted to send the banners real ones send.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { smtpUriSchema } from '../../src/api/secret-values.ts';
import { probeUri } from '../../src/smtp/probe.ts';
import type { ProbeResult } from '../../src/smtp/probe-result.ts';
import { createTestPki, startSmtpServer, type TestPki } from '../support/smtp-servers.ts';

const BANNER_WORDS = [
  'OpenSSH',
  'internal-bastion',
  'nginx',
  'corp-web',
  'vsFTPd',
  'ftp.internal',
  'Dovecot',
];
const closers: Array<() => Promise<void>> = [];
const results: ProbeResult[] = [];
let pki: TestPki;

/** A TCP peer that writes `banner` on connect and answers every line with `answer` (if given). */
async function scripted(banner: string, answer?: string): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.write(banner);
    if (answer) socket.on('data', () => socket.write(answer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

async function probe(uri: string): Promise<ProbeResult> {
  const r = await probeUri(smtpUriSchema.parse(uri), { timeoutMs: 2000, localName: 'probe.mailroom.test' });
  results.push(r);
  return r;
}

before(async () => {
  pki = await createTestPki();
});

after(async () => {
  for (const close of closers) await close();
  const dump = JSON.stringify(results);
  for (const word of BANNER_WORDS) assert.equal(dump.includes(word), false, `a result copies "${word}"`);
});

describe('a peer that is not SMTP is named, never quoted', () => {
  it('SSH: the banner is classified, not copied', async () => {
    const port = await scripted('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13 internal-bastion\r\n');
    const r = await probe(`smtp://127.0.0.1:${port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting');
    assert.equal(r.step, 'greeting');
    assert.match(r.message, /^127\.0\.0\.1:\d+ speaks SSH, not SMTP .*587 for smtp:\/\//);
    assert.equal(r.greeting, undefined);
  });

  it('HTTP (a real server, silent until spoken to): named after a nudge', async () => {
    const server = createHttpServer((_req, res) => res.end('corp-web nginx'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const t = Date.now();
    const r = await probe(`smtp://127.0.0.1:${(server.address() as { port: number }).port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting', r.message);
    assert.match(r.message, /speaks HTTP, not SMTP/);
    assert.ok(Date.now() - t < 2500, 'the nudge must stay inside the time limit');
  });

  it('TLS from the first byte (smtp-server in implicit TLS) probed as smtp://: use smtps://', async () => {
    const s = await startSmtpServer({ mode: 'implicit', tls: pki.valid });
    closers.push(() => s.close());
    const r = await probe(`smtp://localhost:${s.port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting', r.message);
    assert.match(r.message, /speaks TLS from the first byte, not SMTP.*use smtps:\/\//);
  });

  it('smtps:// to an SSH port: named by a diagnostic plain-text connection, not "use smtp://"', async () => {
    const port = await scripted('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13 internal-bastion\r\n');
    const r = await probe(`smtps://127.0.0.1:${port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting', r.message);
    assert.equal(r.step, 'tls');
    assert.match(
      r.message,
      /speaks SSH, not SMTP \(a diagnostic connection read what it sends in plain text\)/,
    );
  });

  it('smtps:// to a real HTTP server: named too', async () => {
    const server = createHttpServer((_req, res) => res.end('corp-web nginx'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const r = await probe(`smtps://127.0.0.1:${(server.address() as { port: number }).port}/`);
    assert.match(r.message, /speaks HTTP, not SMTP/);
  });

  it('POP3 and IMAP banners', async () => {
    const pop = await scripted('+OK Dovecot ready.\r\n');
    assert.match((await probe(`smtp://127.0.0.1:${pop}/`)).message, /speaks POP3, not SMTP/);
    const imap = await scripted('* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n');
    assert.match((await probe(`smtp://127.0.0.1:${imap}/`)).message, /speaks IMAP, not SMTP/);
  });

  it('binary that never forms a line is "not SMTP", without its bytes', async () => {
    const port = await scripted(`\x00\x01\x02${'\xff'.repeat(5000)}`);
    const r = await probe(`smtp://127.0.0.1:${port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting', r.message);
    assert.match(r.message, /speaks a protocol other than SMTP/);
  });

  it('an FTP server greets with 220 but knows no EHLO or HELO: not SMTP, greeting not kept', async () => {
    const port = await scripted('220 (vsFTPd 3.0.5) ftp.internal ready\r\n', '500 Unknown command.\r\n');
    const r = await probe(`smtp://127.0.0.1:${port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting', r.message);
    assert.equal(r.step, 'ehlo');
    assert.match(r.message, /knows neither EHLO nor HELO \(500\): it is not an SMTP server/);
    assert.equal(r.greeting, undefined);
  });

  it('a refusing SMTP greeting is reported by its codes only', async () => {
    const port = await scripted('554 5.7.1 mx1.internal.example: no service for corp-web\r\n');
    const r = await probe(`smtp://127.0.0.1:${port}/`);
    assert.equal(r.reason, 'UnexpectedGreeting');
    assert.match(r.message, /greeted with 554 5\.7\.1 instead of 220/);
    assert.equal(r.message.includes('internal'), false);
  });
});
