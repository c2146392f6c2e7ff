/**
 * `mailroom probe URI`: the controller's probe, run by hand, with the same diagnosis.
 *
 * Exit codes: 0 Verified, 1 the server side failed, 2 invalid input (reason `InvalidURI`).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../api/duration.ts';
import { smtpUriSchema, uriFieldOf } from '../api/secret-values.ts';
import {
  DeliverabilityInputError,
  deliverabilityFromFlags,
  formatDeliverability,
} from '../deliverability/cli.ts';
import { Redactor, redactUris } from '../runtime/redact.ts';
import { invalidUriResult, probeUri } from '../smtp/probe.ts';
import type { ProbeResult } from '../smtp/probe-result.ts';
import { parsePemBundle } from '../smtp/trust.ts';
import { uriSecrets } from '../smtp/uri.ts';

interface ProbeFlags {
  from?: string;
  localName?: string;
  timeout: number;
  auth: boolean;
  checkSender: boolean;
  caFile?: string;
  uriFile?: string;
  output: 'text' | 'json';
  deliverability: boolean;
  dnsServer: string[];
  dkimSelector?: string;
  dkimDomain?: string;
  dkimKeyFile?: string;
  transcript: boolean;
}

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as 10s or 1m');
  return ms;
}

/** Adds `probe` to the program. */
export function registerProbeCommand(program: Command): void {
  program
    .command('probe')
    .description(
      'Connect to an SMTP server as Mailroom will (TCP, greeting, EHLO, STARTTLS/TLS, certificate, AUTH) and say what works or what to fix. Never sends a message.',
    )
    .argument(
      '[uri]',
      'smtp://user:password@host:587/ (or use --uri-file / MAILROOM_SMTP_URI to keep it out of shell history)',
    )
    .option('--uri-file <path>', 'read the URI from a file (e.g. a mounted Secret)')
    .option('--from <address>', 'sender address for --check-sender')
    .option('--local-name <name>', 'EHLO name (default: this host name)')
    .option('--timeout <duration>', 'time limit for the whole probe', durationArg, 10_000)
    .option('--no-auth', 'do not log in, even when the URI has credentials')
    .option('--check-sender', 'also send MAIL FROM:<--from> (then RSET)', false)
    .option(
      '--ca-file <pem>',
      'extra trusted CA certificates (PEM), besides the system roots and NODE_EXTRA_CA_CERTS',
    )
    .option('--deliverability', "also check the --from domain's SPF, DKIM and DMARC as receivers will", false)
    .option(
      '--dns-server <host:port>',
      'DNS server to ask (repeatable); default: the system resolver',
      collect,
      [],
    )
    .option('--dkim-selector <name>', 'with --deliverability: the DKIM selector the sidecar signs with')
    .option(
      '--dkim-domain <domain>',
      'with --deliverability: the DKIM signing domain (default: the --from domain)',
    )
    .option('--dkim-key-file <pem>', 'with --deliverability: the DKIM private key the sidecar signs with')
    .option(
      '--transcript',
      'show the SMTP conversation (C:/S: lines and TLS events; credentials and AUTH payloads as ***); in JSON as "transcript"',
      false,
    )
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nWith --transcript the conversation is printed too (see the README, "See the conversation").\n\nExit status: 0 verified (and, with --deliverability, Deliverable=True), 1 the server side (or DNS) failed, 2 invalid input.\n\nExample:\n  mailroom probe --check-sender --from no-reply@example.com smtp://apikey:SECRET@smtp.example.com:587/',
    )
    .action(async (uriArg: string | undefined, flags: ProbeFlags) => {
      if (flags.deliverability && !flags.from) {
        process.stderr.write('error: --deliverability needs --from ADDRESS\n');
        process.exitCode = 2;
        return;
      }
      const secrets: string[] = [];
      const result = await runProbe(uriArg, flags, secrets);
      // The one boundary of this command's output: nothing leaves unredacted of the URI's secrets.
      const redactor = new Redactor(secrets);
      // Checked even when the server failed: DNS is the domain's, not the server's.
      let deliverability: Awaited<ReturnType<typeof deliverabilityFromFlags>> | undefined;
      try {
        if (flags.deliverability && result.endpoint)
          deliverability = await deliverabilityFromFlags(flags, result.endpoint);
      } catch (err) {
        if (!(err instanceof DeliverabilityInputError)) throw err;
        process.stderr.write(`error: ${redactor.text(err.message)}\n`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(
        flags.output === 'json'
          ? `${JSON.stringify(redactor.deep(deliverability ? { ...result, deliverability } : result), null, 2)}\n`
          : redactor.text(formatText(result) + (deliverability ? formatDeliverability(deliverability) : '')),
      );
      const deliverable = !deliverability || deliverability.status === 'True';
      process.exitCode = result.ok && deliverable ? 0 : result.reason === 'InvalidURI' ? 2 : 1;
    });
}

/** Runs the probe; adds the secret values of the URI it read to `secrets`. */
async function runProbe(
  uriArg: string | undefined,
  flags: ProbeFlags,
  secrets: string[],
): Promise<ProbeResult> {
  const invalid = invalidUriResult;
  let uri = uriArg;
  try {
    if (uri === undefined && flags.uriFile) uri = await readFile(flags.uriFile, 'utf8');
  } catch (err) {
    return invalid(
      `cannot read --uri-file ${flags.uriFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  uri ??= process.env.MAILROOM_SMTP_URI;
  if (!uri)
    return invalid('no URI given: pass it as an argument, with --uri-file PATH, or in MAILROOM_SMTP_URI');
  // Parsed once, here, where it enters the process; the probe gets the typed value.
  const parsed = smtpUriSchema.safeParse(uri);
  if (!parsed.success) {
    secrets.push(...uriSecrets(uri));
    const issue = parsed.error.issues[0]!;
    return invalid(`invalid URI (${uriFieldOf(issue) ?? 'uri'}): ${issue.message}`);
  }
  secrets.push(...uriSecrets(parsed.data));
  if (flags.checkSender && !flags.from) return invalid('--check-sender needs --from ADDRESS');
  let ca: string | undefined;
  if (flags.caFile) {
    try {
      ca = await readFile(flags.caFile, 'utf8');
      parsePemBundle(ca, `--ca-file ${flags.caFile}`);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return invalid(e.code ? `cannot read --ca-file ${flags.caFile}: ${e.code}` : redactUris(e.message));
    }
  }
  return probeUri(parsed.data, {
    timeoutMs: flags.timeout,
    authenticate: flags.auth,
    checkSender: flags.checkSender,
    ...(flags.from ? { from: flags.from } : {}),
    ...(flags.localName ? { localName: flags.localName } : {}),
    ...(ca ? { ca } : {}),
    ...(flags.dnsServer.length ? { dnsServers: flags.dnsServer } : {}),
    ...(flags.transcript ? { transcript: true } : {}),
  });
}

const collect = (value: string, previous: string[]) => [...previous, value];

function formatText(r: ProbeResult): string {
  const lines = [`${r.ok ? '✔' : '✘'} ${r.reason}: ${r.message}`];
  if (r.endpoint) lines.push(`  endpoint:   ${r.endpoint} (${r.security})`);
  if (r.greeting) lines.push(`  greeting:   ${r.greeting}`);
  if (r.extensions.length) lines.push(`  extensions: ${r.extensions.join(', ')}`);
  if (r.tls) {
    lines.push(`  tls:        ${r.tls.version}, ${r.tls.cipher}`);
    const c = r.tls.certificate;
    if (c)
      lines.push(
        `  cert:       ${c.subject} (${c.altNames.join(', ')}), issuer ${c.issuer}, until ${c.notAfter}`,
      );
  }
  for (const w of r.warnings) lines.push(`  warning:    ${w.code}: ${w.message}`);
  if (!r.ok && r.step !== 'parse') lines.push(`  failed at:  ${r.step} after ${r.durationMs} ms`);
  if (r.transcript) lines.push('', 'transcript:', ...r.transcript.map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}
