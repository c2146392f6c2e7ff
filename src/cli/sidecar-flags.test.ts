import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { sidecarContainer } from '../webhook/inject.ts';
import { registerSidecarCommands } from './sidecar.ts';
import { parseSidecarArgs, type SidecarFlags } from './sidecar-flags.ts';

/** What commander gives the sidecar's action for `mailroom sidecar ARGS`, or the error it prints. */
async function commanderReads(args: string[]): Promise<{ flags?: SidecarFlags; error?: string }> {
  const program = new Command('mailroom').exitOverride();
  let error = '';
  program.configureOutput({ writeErr: (s) => (error += s), writeOut: (s) => (error += s) });
  registerSidecarCommands(program);
  const sidecar = program.commands.find((c) => c.name() === 'sidecar')!;
  sidecar.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: (s) => (error += s) });
  let flags: SidecarFlags | undefined;
  sidecar.action((f: SidecarFlags) => {
    flags = { ...f };
  });
  try {
    await program.parseAsync(['node', 'mailroom', 'sidecar', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { error: error || err.message };
  }
  return { flags: flags! };
}

const ENV = [
  'MAILROOM_CONFIG',
  'MAILROOM_DATA_DIR',
  'LOG_LEVEL',
  'MAILROOM_SMTP_AUTH',
  'MAILROOM_HTTP_TOKEN',
];
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
const setEnv = (env: Record<string, string>) => {
  for (const k of ENV) delete process.env[k];
  Object.assign(process.env, env);
};

describe('the sidecar flags read without commander', () => {
  const accepted: Array<[string, string[], Record<string, string>]> = [
    ['the args the webhook injects', sidecarContainer({ sender: 's', image: 'i' }, {}).args!.slice(1), {}],
    ['no flags at all (every default)', [], {}],
    [
      'every kind of value',
      [
        '--uri-file=/run/smtp.uri',
        '--from',
        'no-reply@example.com',
        '--from-name',
        'Example Identity',
        '--header',
        'X-One: 1',
        '--header',
        'X-Two:two: parts',
        '--max-attempts',
        '3',
        '--max-backoff',
        '10m',
        '--rate',
        '2.5',
        '--max-message-size',
        '5MB',
        '--max-in-flight-bytes=1GiB',
        '--retry-base',
        '1s',
        '--retention',
        '24h',
        '--send-timeout',
        '30s',
        '--metrics-listen',
        ':9025',
        '--smtp-listen',
        '[::1]:2525',
        '--max-connections',
        '2',
        '--max-in-flight',
        '8',
        '--log-level',
        'debug',
      ],
      {},
    ],
    [
      'a flag given twice (the last wins), as the test harness does',
      ['--http-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:8026', '--config', 'a', '--config', 'b'],
      {},
    ],
    [
      'defaults and values from the environment',
      ['--config', '/etc/mailroom/config.json', '--http-token', 'from-the-flag'],
      {
        MAILROOM_DATA_DIR: '/data',
        LOG_LEVEL: 'warn',
        MAILROOM_SMTP_AUTH: 'app:secret',
        MAILROOM_HTTP_TOKEN: 'from-env',
      },
    ],
    ['the config file from the environment', [], { MAILROOM_CONFIG: '/etc/mailroom/config.json' }],
  ];
  for (const [what, args, env] of accepted) {
    it(`gives what commander gives: ${what}`, async () => {
      setEnv(env);
      const fast = parseSidecarArgs(args);
      assert.ok(fast, `declined ${args.join(' ')}`);
      const { flags, error } = await commanderReads(args);
      assert.equal(error, undefined);
      assert.deepEqual(fast, flags);
    });
  }

  const declined: Array<[string, string[]]> = [
    ['--help', ['--config', 'x', '--help']],
    ['-h', ['-h']],
    ['an unknown flag', ['--config', 'x', '--bogus']],
    ['a positional argument', ['--config', 'x', 'extra']],
    ['a missing value', ['--config']],
    ['a refused value', ['--max-attempts', '0']],
    ['a refused size', ['--max-message-size', 'big']],
    ['a refused address', ['--smtp-listen', '127.0.0.1:99999']],
    ['a refused header', ['--header', 'no colon']],
  ];
  for (const [what, args] of declined) {
    it(`leaves ${what} to commander, which explains`, async () => {
      setEnv({});
      assert.equal(parseSidecarArgs(args), undefined);
      const { error } = await commanderReads(args);
      assert.ok(error, `commander accepted ${args.join(' ')}`);
      assert.match(error, /error|Usage: mailroom sidecar/);
    });
  }

  it('leaves a value starting with "-" to commander, which takes it as the value', async () => {
    setEnv({});
    assert.equal(parseSidecarArgs(['--from-name', '-x']), undefined);
    const { flags } = await commanderReads(['--from-name', '-x']);
    assert.equal(flags?.fromName, '-x');
  });

  it('refuses a bad value with the same words through commander', async () => {
    const { error } = await commanderReads(['--max-attempts', '0']);
    assert.match(
      error!,
      /option '--max-attempts <n>' argument '0' is invalid\. expected a positive integer, got "0"/,
    );
  });
});
