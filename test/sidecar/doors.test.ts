/**
 * The front doors: swaks (an outside SMTP client) through the SMTP door, header injection and
 * oversize refused with clear errors at both doors (and nothing sent), idempotency keys, listing,
 * SMTP AUTH, and readiness before a config exists.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderFromFlags } from '../../src/sidecar/config.ts';
import type { MessageView } from '../../src/sidecar/types.ts';
import { sidecarFixture } from '../support/sidecar-fixture.ts';
import { getMessage, post, simple, testSidecar } from '../support/sidecar-harness.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';
import { startUpstream, tempDir, waitFor } from '../support/sidecar-upstream.ts';

/** Stands in for the uid of the Secret the controller would have read the config from. */
const TEST_REVISION_KEY = 'uid-of-the-smtp-secret';

/** Runs swaks against the door. Async: the sidecar under test runs in this very process. */
function swaks(port: number, args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'swaks',
      ['-s', '127.0.0.1', '-p', String(port), '-f', 'app@example.org', '-t', 'user@example.org', ...args],
      { encoding: 'utf8', timeout: 20_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ status, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe('front doors', () => {
  const LIMIT = 4096;
  const f = sidecarFixture({ maxMessageBytes: LIMIT });

  it('takes mail from swaks and delivers it', async () => {
    const r = await swaks(f.sc.smtpPort, ['--header', 'Subject: from swaks', '--body', 'hello from swaks']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /250 2\.0\.0 Queued as [0-9a-f-]{36}/);
    const got = await f.arrived('from swaks');
    assert.equal(got.mailFrom, 'no-reply@example.com');
    assert.deepEqual(got.rcptTo, ['user@example.org']);
    assert.match(got.raw, /hello from swaks/);
  });

  it('refuses a bare CR in a header from swaks (554) and sends nothing', async () => {
    const file = join(f.dir, 'inject.eml');
    writeFileSync(file, 'Subject: injected\r\nX-Note: a\rBcc: victim@example.net\r\n\r\nbody\r\n');
    const r = await swaks(f.sc.smtpPort, ['--data', `@${file}`]);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /554 5\.6\.0 a header contains a bare CR .*header injection/);
  });

  it('refuses a bare LF among CRLF header lines (554)', async () => {
    // swaks rewrites bare LF into CRLF, so this one speaks SMTP over a plain socket.
    const replies = await smtpSession(f.sc.smtpPort, [
      'EHLO test.example',
      'MAIL FROM:<app@example.org>',
      'RCPT TO:<user@example.org>',
      'DATA',
      'Subject: injected\r\nX-Note: a\nBcc: victim@example.net\r\n\r\nbody\r\n.',
    ]);
    assert.match(replies.at(-1) ?? '', /^554 5\.6\.0 a header contains a bare LF/);
  });

  it('refuses an oversize message on the SMTP door (552)', async () => {
    const r = await swaks(f.sc.smtpPort, ['--header', 'Subject: big', '--body', 'x'.repeat(LIMIT * 2)]);
    assert.match(r.out, /552 5\.3\.4 Message too big: the limit is 4096 bytes/);
  });

  const refusals: Array<[string, unknown, number, string, RegExp]> = [
    [
      'CR/LF in the subject',
      { ...simple(1), subject: 'Hi\r\nBcc: victim@example.net' },
      400,
      'HeaderInjection',
      /subject/,
    ],
    [
      'LF in a header value',
      { ...simple(1), headers: { 'X-Tag': 'a\nBcc: v@example.net' } },
      400,
      'HeaderInjection',
      /headers/,
    ],
    [
      'CR/LF in an address',
      { ...simple(1), to: 'a@example.org\r\nBcc: v@example.net' },
      400,
      'HeaderInjection',
      /to/,
    ],
    [
      'a reserved header',
      { ...simple(1), headers: { From: 'ceo@example.com' } },
      400,
      'InvalidMessage',
      /headers\.From/,
    ],
    ['a bad address', { ...simple(1), to: 'not-an-address' }, 400, 'InvalidMessage', /to/],
    ['no body', { to: 'a@example.org', subject: 'x' }, 400, 'InvalidMessage', /text/],
    [
      'an unknown field',
      { ...simple(1), attachments: [] },
      400,
      'InvalidMessage',
      /attachments|Unrecognized/i,
    ],
    [
      'oversize',
      { ...simple(1), text: 'x'.repeat(LIMIT * 2) },
      413,
      'MessageTooLarge',
      /limit is 4096 bytes/,
    ],
    ['not JSON', '{"to":', 400, 'InvalidJSON', /not valid JSON/],
  ];
  for (const [what, body, status, code, message] of refusals) {
    it(`refuses ${what} on the HTTP API (${status} ${code})`, async () => {
      const r = await post(f.sc.httpPort, body);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error, code);
      assert.match(`${r.body.field ?? ''} ${r.body.message}`, message);
    });
  }

  it('sent none of the refused messages', async () => {
    const list = (await (await fetch(`http://127.0.0.1:${f.sc.httpPort}/v1/messages?limit=500`)).json()) as {
      messages: MessageView[];
    };
    assert.ok(list.messages.every((m) => m.subject !== 'big' && m.subject !== 'injected'));
    assert.ok(f.upstream.received.every((m) => !m.raw.includes('victim@example.net')));
    assert.ok(f.upstream.received.every((m) => !m.rcptTo.includes('victim@example.net')));
    const metrics = (await (await fetch(`http://127.0.0.1:${f.sc.httpPort}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('mailroom_sidecar_messages_rejected_total'))
      .join('\n');
    assert.match(
      metrics,
      /mailroom_sidecar_messages_rejected_total\{door="smtp",reason="HeaderInjection"[^}]*\} 2/,
    );
    assert.match(
      metrics,
      /mailroom_sidecar_messages_rejected_total\{door="http",reason="MessageTooLarge"[^}]*\} 1/,
    );
  });

  it('counts the queue transactions it commits in /metrics', async () => {
    const commits = async () => {
      const text = await (await fetch(`http://127.0.0.1:${f.sc.httpPort}/metrics`)).text();
      return Number(/^mailroom_sidecar_queue_commits_total(?:\{[^}]*\})? (\d+)$/m.exec(text)?.[1]);
    };
    const before = await commits();
    assert.ok(before > 0, `messages were accepted and delivered above: ${before}`);
    assert.equal((await post(f.sc.httpPort, simple('commits'))).status, 202);
    assert.ok((await commits()) > before, 'the new message committed at least once more');
  });

  it('returns the first message for a repeated idempotency key', async () => {
    const a = await post(f.sc.httpPort, simple('idem'), { 'idempotency-key': 'reset-42' });
    const b = await post(f.sc.httpPort, simple('idem'), { 'idempotency-key': 'reset-42' });
    const c = await post(f.sc.httpPort, { ...simple('idem'), idempotencyKey: 'reset-42' });
    assert.equal(a.status, 202);
    assert.equal(b.status, 200);
    assert.equal(b.body.id, a.body.id);
    assert.equal(c.body.id, a.body.id);
    await waitFor(async () => (await getMessage(f.sc.httpPort, String(a.body.id))).state === 'sent');
    assert.equal(f.upstream.received.filter((m) => m.headers.get('subject') === 'message idem').length, 1);
  });

  it('lists by state and recipient, newest first, with a cursor', async () => {
    for (let i = 0; i < 5; i++) await post(f.sc.httpPort, simple(`list-${i}`, `list-${i % 2}@example.org`));
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${f.sc.httpPort}/v1/messages?state=queued`);
      return ((await r.json()) as { messages: unknown[] }).messages.length === 0;
    });
    const url = `http://127.0.0.1:${f.sc.httpPort}/v1/messages?recipient=LIST-0@example.org&limit=2`;
    const p1 = (await (await fetch(url)).json()) as { messages: MessageView[]; nextCursor?: string };
    assert.deepEqual(
      p1.messages.map((m) => m.subject),
      ['message list-4', 'message list-2'],
    );
    assert.ok(p1.nextCursor);
    const p2 = (await (await fetch(`${url}&cursor=${p1.nextCursor}`)).json()) as {
      messages: MessageView[];
      nextCursor?: string;
    };
    assert.deepEqual(
      p2.messages.map((m) => m.subject),
      ['message list-0'],
    );
    assert.equal(p2.nextCursor, undefined);
    const bad = await fetch(`http://127.0.0.1:${f.sc.httpPort}/v1/messages?state=lost`);
    assert.equal(bad.status, 400);
    assert.equal(
      (await fetch(`http://127.0.0.1:${f.sc.httpPort}/v1/messages/00000000-0000-0000-0000-000000000000`))
        .status,
      404,
    );
  });
});

describe('SMTP door with AUTH', () => {
  const f = sidecarFixture({ smtpAuth: { user: 'app', pass: 'door-pass' } });

  it('requires the configured login', async () => {
    const none = await swaks(f.sc.smtpPort, ['--header', 'Subject: no auth']);
    assert.match(none.out, /530 .*Authentication Required/i);
    const wrong = await swaks(f.sc.smtpPort, ['-a', 'PLAIN', '-au', 'app', '-ap', 'nope']);
    assert.match(wrong.out, /535 5\.7\.8/);
    const ok = await swaks(f.sc.smtpPort, [
      '-a',
      'PLAIN',
      '-au',
      'app',
      '-ap',
      'door-pass',
      '--header',
      'Subject: authed',
    ]);
    assert.equal(ok.status, 0, ok.out);
    await f.arrived('authed');
  });
});

describe('before a config exists', () => {
  it('accepts and queues, says why it is not ready, and delivers once the config appears', async () => {
    const tmp = tempDir();
    const upstream = await startUpstream();
    const mount = join(tmp.dir, 'mount');
    const sc = await testSidecar(join(tmp.dir, 'data'), { path: join(mount, 'config.json') });
    try {
      const ready = await fetch(`http://127.0.0.1:${sc.httpPort}/readyz`);
      assert.equal(ready.status, 503);
      assert.match(((await ready.json()) as { reason: string }).reason, /config\.json does not exist/);
      const r = await post(sc.httpPort, simple('early'));
      assert.equal(r.status, 202);
      await new Promise((res) => setTimeout(res, 300));
      assert.equal((await getMessage(sc.httpPort, String(r.body.id))).state, 'queued');

      const doc = renderFromFlags(
        { uri: `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`, from: 'n@example.com' },
        TEST_REVISION_KEY,
      );
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(mount, '..2026_01'), { recursive: true });
      writeFileSync(join(mount, '..2026_01', 'config.json'), JSON.stringify(doc));
      symlinkSync('..2026_01', join(mount, '..data'));
      symlinkSync('..data/config.json', join(mount, 'config.json'));

      await waitFor(async () => (await fetch(`http://127.0.0.1:${sc.httpPort}/readyz`)).status === 200);
      await waitFor(async () => (await getMessage(sc.httpPort, String(r.body.id))).state === 'sent');
      assert.equal(upstream.received.length, 1);
    } finally {
      await sc.stop();
      await upstream.close();
      tmp.remove();
    }
  });
});
