/**
 * Issue 11, end to end: random passwords (printable ASCII with space and every URI delimiter, and
 * unicode) written into Secrets raw and percent-encoded, through the controller on a real API
 * server, `mailroom probe` and `mailroom sidecar` (each as its own process), against an SMTP server
 * that echoes the credentials it refuses (the worst peer). No 6-character window of any password may
 * appear in any status, Event, log line, CLI output, or the sidecar's API and page.
 *
 * Lean on purpose: a handful of passwords per run (two fixed, shaped as providers hand them out, and
 * random ones); the parser and the redactors get thousands of runs in their unit tests.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse } from 'smtp-server';
import type { EmailSender } from '../../src/api/emailsender.ts';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import { runCommand } from '../support/run-command.ts';
import { post, type SidecarProcess, spawnSidecar } from '../support/sidecar-harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const NS = 'leaks';
const root = new URL('../../', import.meta.url).pathname;

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const passwordArb = fc.noBias(
  fc.string({
    unit: fc.oneof(
      { weight: 5, arbitrary: printable },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    ),
    minLength: 12,
    maxLength: 32,
  }),
);
const seed = Number(process.env.LEAK_SEED ?? Date.now() % 2 ** 31);
const PASSWORDS = [
  // AWS SES: base64 with / + =; and one with @, : and spaces, quotes and unicode.
  'BHxX3cSECR/Secr3tPa55word=+q9Z',
  'p@ss: "wörd" \'😀\' 100%zz?#end',
  ...fc.sample(passwordArb, { numRuns: 3, seed }),
];
const context = `seed ${seed}, passwords ${JSON.stringify(PASSWORDS)}`;

/** Each 6-code-point window of `secret` found in `text`. */
function windowsIn(text: string, secret: string): string[] {
  const cps = [...secret];
  const found: string[] = [];
  for (let i = 0; i + 6 <= cps.length; i++) {
    const w = cps.slice(i, i + 6).join('');
    if (text.includes(w)) found.push(w);
  }
  return found;
}

/** The text as written, and every string inside it when it is JSON (escapes decoded). */
function readable(text: string): string {
  const parts = [text];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{') && !t.startsWith('[')) continue;
    try {
      collect(JSON.parse(t), parts);
    } catch {
      // Not one JSON value per line: the whole text below.
    }
  }
  try {
    collect(JSON.parse(text), parts);
  } catch {
    // Not JSON.
  }
  return parts.join('\n');
}

function collect(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) collect(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collect(x, out);
}

function assertNoFragments(sink: string, text: string): void {
  const all = readable(text);
  for (const pw of PASSWORDS) {
    assert.deepEqual(windowsIn(all, pw), [], `${sink} holds part of a password (${context})`);
  }
}

/** Refuses every user but `good`, quoting what it was sent: a peer that echoes credentials. */
async function echoingServer(): Promise<TestSmtpServer> {
  return startSmtpServer({
    mode: 'plain',
    auth: { user: 'good', pass: '' },
    authMethods: ['PLAIN', 'LOGIN'],
    extra: {
      onAuth(
        auth: SMTPServerAuthentication,
        _session: unknown,
        cb: (err: Error | null, res?: SMTPServerAuthenticationResponse) => void,
      ) {
        if (auth.username === 'good') return cb(null, { user: 'good' });
        const blob = Buffer.from(`\0${auth.username}\0${auth.password}`).toString('base64');
        cb(
          Object.assign(new Error(`bad login ${auth.username}:${auth.password} (${blob})`), {
            responseCode: 535,
          }),
        );
      },
    },
  });
}

const uriOf = (port: number, user: string, password: string, encode: boolean) =>
  `smtp://${user}:${encode ? encodeURIComponent(password) : password}@127.0.0.1:${port}/?disable_starttls=true`;

describe('no fragment of a password in any output', { timeout: 240_000 }, () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let smtp: TestSmtpServer;
  let tmp: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mailroom-leaks-'));
    smtp = await echoingServer();
  });
  after(async () => {
    await controller?.stop();
    await env?.stop();
    await smtp?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('controller: status, Events and logs', async () => {
    env = await startControllerEnv();
    controller = await env.startController();
    await env.kubectl('create', 'namespace', NS);
    // Per password: raw (as pasted), encoded and refused (the echo), encoded and accepted.
    const kinds = [
      ['raw', 'echo', false],
      ['echo', 'echo', true],
      ['good', 'good', true],
    ] as const;
    const docs: string[] = [];
    const names: string[] = [];
    PASSWORDS.forEach((pw, i) => {
      for (const [kind, user, encode] of kinds) {
        const name = `p${i}-${kind}`;
        names.push(name);
        docs.push(`apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${NS} }
stringData: { uri: ${JSON.stringify(uriOf(smtp.port, user, pw, encode))} }
---
apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: ${name} } }
  from: { address: no-reply@example.com }
  probe: { interval: 1m, timeout: 5s }
`);
      }
    });
    await env.apply(docs.join('---\n'));
    const settled = await eventually(
      async () => {
        const list = JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsenders', '-o', 'json')) as {
          items: EmailSender[];
        };
        const done = list.items.filter((s) => {
          const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
          return (
            s.status?.observedGeneration === s.metadata.generation && ready && ready.status !== 'Unknown'
          );
        });
        return done.length === names.length && list;
      },
      90_000,
      'every sender probed',
    );
    // The senders did what the test means them to: the accepted ones are Verified, the echoed ones
    // were refused by the server (so its echo went through the controller).
    for (const s of settled.items) {
      const reason = s.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
      if (s.metadata.name.endsWith('-good')) assert.equal(reason, 'Verified', s.metadata.name);
      if (s.metadata.name.endsWith('-echo')) assert.equal(reason, 'AuthenticationFailed', s.metadata.name);
    }
    const events = await env.kubectl('-n', NS, 'get', 'events.events.k8s.io', '-o', 'json');
    assert.ok((JSON.parse(events) as { items: unknown[] }).items.length >= names.length);
    assertNoFragments('status', JSON.stringify(settled));
    assertNoFragments('Events', events);
    assertNoFragments('controller log', controller.lines.join('\n'));
  });

  test('mailroom probe: text and JSON', async () => {
    // The parser's errors and the redactors have their own thousands of runs: here the command's
    // output boundary, for three of the passwords.
    for (const [i, pw] of PASSWORDS.slice(0, 3).entries()) {
      // As pasted (text), and encoded so the server's echo comes back (JSON); both at once.
      const runs = (
        [
          [false, 'text'],
          [true, 'json'],
        ] as const
      ).map(async ([encode, output]) => {
        const file = join(tmp, `probe-${i}-${output}.uri`);
        await writeFile(file, `${uriOf(smtp.port, 'echo', pw, encode)}\n`);
        const r = await runCommand(process.execPath, [
          join(root, 'src/cli/main.ts'),
          'probe',
          '--uri-file',
          file,
          '--timeout',
          '5s',
          '--output',
          output,
          '--transcript',
        ]);
        assert.notEqual(r.code, 0, 'the echoing server refuses, or the URI is refused');
        if (encode) assert.match(r.stdout, /AuthenticationFailed/);
        assertNoFragments(`mailroom probe --output ${output}`, `${r.stdout}\n${r.stderr}`);
      });
      await Promise.all(runs);
    }
  });

  test('mailroom sidecar: API, page and logs', async () => {
    const uriFile = join(tmp, 'sidecar.uri');
    await writeFile(uriFile, `${uriOf(smtp.port, 'echo', 'first-Password-1', true)}\n`);
    const sc: SidecarProcess = await spawnSidecar([
      '--data-dir',
      join(tmp, 'sidecar-data'),
      '--uri-file',
      uriFile,
      '--from',
      'no-reply@example.com',
      '--retry-base',
      '60s',
    ]);
    const api = (path: string) => fetch(`http://127.0.0.1:${sc.httpPort}${path}`).then((r) => r.text());
    const revision = async () =>
      (JSON.parse(await api('/readyz')) as { config?: { revision?: string } }).config?.revision;
    try {
      const outputs: string[] = [];
      for (const pw of PASSWORDS) {
        for (const encode of [false, true]) {
          const [before, lines] = [await revision(), sc.output.length];
          await writeFile(uriFile, `${uriOf(smtp.port, 'echo', pw, encode)}\n`);
          // Read within one poll (2 s): a new revision, or a line saying why it was refused (a
          // refusal worded as the one before is not logged again: then the poll time is waited out).
          for (let t = 0; t < 30 && (await revision()) === before && sc.output.length === lines; t++)
            await sleep(100);
          const { body } = await post(sc.httpPort, {
            to: 'rcpt@example.org',
            subject: 'leak test',
            text: 'x',
          });
          const id = String(body.id);
          // The attempt is refused with the server's echo of the credentials.
          await eventually(
            async () => {
              const m = JSON.parse(await api(`/v1/messages/${id}`)) as { attempts?: unknown[] };
              return (m.attempts?.length ?? 0) > 0;
            },
            15_000,
            'a delivery attempt',
          );
          outputs.push(
            await api(`/v1/messages/${id}`),
            await api('/v1/messages'),
            await api('/'),
            await api('/readyz'),
          );
        }
      }
      assertNoFragments('sidecar API and page', outputs.join('\n'));
      assertNoFragments('sidecar log', sc.output.join(''));
    } finally {
      await sc.kill('SIGTERM');
    }
  });
});
