/**
 * The set-up the `mailroom send` tests share: one password with every character a URI must escape, a
 * test PKI whose CA the CLI trusts (NODE_EXTRA_CA_CERTS), smtp-servers closed after the file, and an
 * assertion that output holds no form of the password (whole, percent-encoded, base64, any
 * 6-character window).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { type CommandResult, runCommand } from './run-command.ts';
import { createTestPki, startSmtpServer, type TestPki, type TestSmtpServer } from './smtp-servers.ts';

export const USER = 'sender-user';
export const PASSWORD = 'S3nd/pass word+=?#@x';
/** PASSWORD as it stands in a URI. */
export const P = encodeURIComponent(PASSWORD);

/** What a send test file works with; fields are set once `before` has run. */
export interface SendFixture {
  pki: TestPki;
  /** A temporary folder holding `ca.pem`, removed after the file. */
  dir: string;
  /** Runs `mailroom send …` from the sources, trusting the test CA. */
  send(args: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult>;
  /** Starts an smtp-server that is closed after the file. */
  smtp(opts: Parameters<typeof startSmtpServer>[0]): Promise<TestSmtpServer>;
  /** Runs `close` after the file, before the folder is removed (last registered, first run). */
  onCleanup(close: () => Promise<void>): void;
}

/** Registers the file's `before`/`after` hooks and returns the fixture they fill. */
export function useSendFixture(prefix: string): SendFixture {
  const closers: Array<() => Promise<void>> = [];
  const fx: SendFixture = {
    pki: undefined as unknown as TestPki, // set in before()
    dir: '',
    send: (args, env = {}) =>
      runCommand(process.execPath, ['src/cli/main.ts', 'send', ...args], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: join(fx.dir, 'ca.pem'), ...env },
      }),
    async smtp(opts) {
      const s = await startSmtpServer(opts);
      closers.push(() => s.close());
      return s;
    },
    onCleanup: (close) => {
      closers.push(close);
    },
  };
  before(async () => {
    fx.pki = await createTestPki();
    fx.dir = await mkdtemp(join(tmpdir(), prefix));
    await writeFile(join(fx.dir, 'ca.pem'), fx.pki.ca.cert);
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    if (fx.dir) await rm(fx.dir, { recursive: true, force: true });
  });
  return fx;
}

/** Fails when `text` holds the password whole, percent-encoded, in base64, or any 6 characters of it. */
export function assertNoSecret(text: string): void {
  for (const form of [PASSWORD, P, Buffer.from(PASSWORD).toString('base64')]) {
    assert.equal(text.includes(form), false, `output holds "${form}"`);
  }
  for (let i = 0; i + 6 <= PASSWORD.length; i++)
    assert.equal(text.includes(PASSWORD.slice(i, i + 6)), false, 'output holds part of the password');
}
