/**
 * `mailroom send --to ADDR`: the one command that sends. One test message through exactly the config a
 * sidecar uses, given as a URI (`--uri`, `--uri-file`, `MAILROOM_SMTP_URI`, with `--from`) or read
 * from a sender's published config through the kubeconfig (`--sender [NAMESPACE/]NAME`,
 * `--cluster-sender NAME`).
 *
 * Exit codes: 0 sent, 1 refused or failed (with the probe's reasons), 2 bad input.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../api/duration.ts';
import { redactUris } from '../runtime/redact.ts';
import { type ActiveConfig, ConfigError, configFromFlags } from '../sidecar/config.ts';
import { parsePemBundle } from '../smtp/trust.ts';
import { parseSenderRef, readSenderConfig, SenderConfigError } from './sender-config.ts';
import { type SendResult, sendTestMessage } from './test-message.ts';

interface SendFlags {
  to: string[];
  subject?: string;
  uri?: string;
  uriFile?: string;
  from?: string;
  fromName?: string;
  localName?: string;
  caFile?: string;
  sender?: string;
  clusterSender?: string;
  namespace?: string;
  timeout: number;
  transcript: boolean;
  output: 'text' | 'json';
}

class InputError extends Error {}

const ADDRESS = /^[^\s@<>()",;]+@[^\s@<>()",;]+$/;

/** Adds `send` to the program. */
export function registerSendCommand(program: Command): void {
  program
    .command('send')
    .description(
      "Send one test message through exactly the config a sidecar uses (a URI, or a sender's published config) and print the server's final reply.",
    )
    .requiredOption('--to <address>', 'recipient (repeatable)', collect, [])
    .option('--subject <text>', 'subject (default: "Mailroom test message")')
    .option('--uri <uri>', 'smtp://user:password@host:587/ (or --uri-file / MAILROOM_SMTP_URI)')
    .option('--uri-file <path>', 'read the URI from a file (e.g. a mounted Secret)')
    .option('--from <address>', 'with a URI: the sender address')
    .option('--from-name <name>', 'with a URI: the sender display name')
    .option('--local-name <name>', 'with a URI: EHLO name (default: this host name)')
    .option('--ca-file <pem>', 'with a URI: extra trusted CA certificates (PEM)')
    .option(
      '--sender <[namespace/]name>',
      'an EmailSender: read its published config (Secret <name>-mailroom)',
    )
    .option(
      '--cluster-sender <name>',
      'a ClusterEmailSender: read its config published into the namespace (Secret <name>-cluster-mailroom)',
    )
    .option(
      '-n, --namespace <namespace>',
      'namespace of --sender / --cluster-sender (default: the kubeconfig context)',
    )
    .option('--timeout <duration>', 'time limit for each wait on the server', durationArg, 30_000)
    .option('--transcript', 'show the SMTP conversation (credentials and AUTH payloads as ***)', false)
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nExit status: 0 sent, 1 refused or failed, 2 bad input.\n\nExamples:\n  mailroom send --sender auth/identity --to you@example.com\n  MAILROOM_SMTP_URI=smtp://apikey:SECRET@smtp.example.com:587/ mailroom send --from no-reply@example.com --to you@example.com',
    )
    .action(async (flags: SendFlags) => {
      let active: ActiveConfig;
      try {
        for (const to of flags.to)
          if (!ADDRESS.test(to)) throw new InputError(`--to ${to}: not an email address`);
        active = await resolveConfig(flags);
      } catch (err) {
        if (
          err instanceof InputError ||
          err instanceof ConfigError ||
          (err instanceof SenderConfigError && err.input)
        ) {
          process.stderr.write(`error: ${redactUris(err.message)}\n`);
          process.exitCode = 2;
          return;
        }
        if (err instanceof SenderConfigError) {
          process.stderr.write(`error: ${redactUris(err.message)}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
      const result = await sendTestMessage(active, {
        to: flags.to,
        timeoutMs: flags.timeout,
        transcript: flags.transcript,
        ...(flags.subject ? { subject: flags.subject } : {}),
      });
      process.stdout.write(
        flags.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatText(result),
      );
      process.exitCode = result.ok ? 0 : 1;
    });
}

async function resolveConfig(flags: SendFlags): Promise<ActiveConfig> {
  const named = [flags.sender, flags.clusterSender].filter(Boolean).length;
  const uriGiven = flags.uri !== undefined || flags.uriFile !== undefined;
  if (named > 1) throw new InputError('give either --sender or --cluster-sender, not both');
  if (named && (uriGiven || flags.from || flags.caFile || flags.localName || flags.fromName)) {
    throw new InputError(
      '--sender/--cluster-sender read the whole config from the cluster: drop --uri, --uri-file, --from, --from-name, --local-name and --ca-file',
    );
  }
  if (named) {
    const ref = flags.sender
      ? parseSenderRef(flags.sender, 'EmailSender')
      : parseSenderRef(flags.clusterSender!, 'ClusterEmailSender');
    if (flags.namespace) {
      if (ref.namespace && ref.namespace !== flags.namespace)
        throw new InputError(
          `--sender names namespace ${ref.namespace} but --namespace says ${flags.namespace}`,
        );
      ref.namespace = flags.namespace;
    }
    return readSenderConfig(ref);
  }
  let uri = flags.uri;
  if (uri === undefined && flags.uriFile) {
    try {
      uri = await readFile(flags.uriFile, 'utf8');
    } catch (err) {
      throw new InputError(
        `cannot read --uri-file ${flags.uriFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  uri ??= process.env.MAILROOM_SMTP_URI;
  if (!uri) {
    throw new InputError(
      'no config: give --sender [NAMESPACE/]NAME (or --cluster-sender NAME), or a URI with --uri, --uri-file or MAILROOM_SMTP_URI plus --from',
    );
  }
  if (!flags.from)
    throw new InputError('a URI needs --from ADDRESS (the sender address the sidecar would set)');
  let ca: string | undefined;
  if (flags.caFile) {
    try {
      ca = await readFile(flags.caFile, 'utf8');
    } catch (err) {
      throw new InputError(
        `cannot read --ca-file ${flags.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    try {
      parsePemBundle(ca, `--ca-file ${flags.caFile}`);
    } catch (err) {
      throw new InputError((err as Error).message);
    }
  }
  return configFromFlags(
    {
      uri,
      from: flags.from,
      ...(flags.fromName ? { fromName: flags.fromName } : {}),
      ...(flags.localName ? { localName: flags.localName } : {}),
      ...(ca ? { ca } : {}),
    },
    'the URI',
  );
}

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as 10s or 1m');
  return ms;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function formatText(r: SendResult): string {
  const lines = [`${r.ok ? '✔' : '✘'} ${r.reason}: ${r.message}`];
  lines.push(`  endpoint:   ${r.endpoint} (${r.security})`);
  lines.push(`  from:       ${r.from}`);
  lines.push(`  to:         ${r.to.join(', ')}`);
  lines.push(`  message-id: ${r.messageId}`);
  if (r.transcript) lines.push('', 'transcript:', ...r.transcript.map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}
