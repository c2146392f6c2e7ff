/**
 * `mailroom validate FILE…|-`: offline check of EmailSender manifests for GitOps CI.
 *
 * Exit codes: 0 every EmailSender is valid (warnings allowed), 1 something is invalid,
 * 2 usage or I/O error (bad option, unreadable file).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type Command, type CommanderError, Option } from 'commander';
import {
  DEFAULT_CLUSTER_RESOURCE_NAMESPACE,
  type Finding,
  type Source,
  type ValidationReport,
  validateManifests,
} from './validate-manifests.ts';

/** Exit codes of `mailroom validate`. */
export const EXIT = { valid: 0, invalid: 1, usage: 2 } as const;

/** Options of {@link runValidate}, as the command line gives them. */
export interface ValidateOptions {
  output: 'text' | 'json';
  verbose: boolean;
  /** Where ClusterEmailSenders' Secrets are looked for. */
  clusterResourceNamespace?: string;
}

/** Where {@link runValidate} reads and writes; the process by default, buffers in tests. */
export interface ValidateIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => Promise<string>;
}

const processIo: ValidateIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: async () => {
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    return text;
  },
};

const where = (f: Finding) =>
  [`${f.file}:${f.document}`, f.object, f.path].filter((p): p is string => p !== undefined).join(': ');

/** One line per finding, then a summary, as a person reads it in a CI log. */
export function formatText(report: ValidationReport, verbose: boolean): string {
  const lines: string[] = [];
  for (const f of report.findings) {
    if (f.severity === 'info' && !verbose) continue;
    lines.push(`${f.severity}: ${where(f)}: ${f.message}`);
  }
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  const warnings = report.findings.filter((f) => f.severity === 'warning').length;
  const plural = (n: number, kind: string) => `${n} ${kind}${n === 1 ? '' : 's'}`;
  const senders = report.clusterEmailSenders
    ? `${plural(report.emailSenders, 'EmailSender')} and ${plural(report.clusterEmailSenders, 'ClusterEmailSender')}`
    : plural(report.emailSenders, 'EmailSender');
  lines.push(
    report.valid
      ? `${senders} valid${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}, ${report.skipped} other document${report.skipped === 1 ? '' : 's'} skipped`
      : `invalid: ${errors} error${errors === 1 ? '' : 's'} in ${senders}`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * Reads the files (`-` is stdin), checks them and prints the report. Returns the exit code rather
 * than exiting, so tests and other commands can call it.
 */
export async function runValidate(
  files: readonly string[],
  opts: ValidateOptions,
  io: ValidateIo = processIo,
): Promise<number> {
  const sources: Source[] = [];
  for (const file of files) {
    try {
      const text = file === '-' ? await io.readStdin() : await readFile(file, 'utf8');
      sources.push({ file: file === '-' ? '<stdin>' : file, text });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
      io.stderr(`mailroom validate: cannot read ${file}: ${why}\n`);
      return EXIT.usage;
    }
  }
  const report = await validateManifests(
    sources,
    opts.clusterResourceNamespace ? { clusterResourceNamespace: opts.clusterResourceNamespace } : {},
  );
  if (opts.output === 'json') {
    const findings = opts.verbose ? report.findings : report.findings.filter((f) => f.severity !== 'info');
    io.stdout(`${JSON.stringify({ ...report, findings }, null, 2)}\n`);
  } else {
    io.stdout(formatText(report, opts.verbose));
  }
  return report.valid ? EXIT.valid : EXIT.invalid;
}

/**
 * Adds `validate` to the `mailroom` program.
 *
 * @example
 * const program = new Command('mailroom');
 * registerValidateCommand(program);
 * await program.parseAsync(process.argv);
 */
export function registerValidateCommand(program: Command): Command {
  return (
    program
      .command('validate')
      .description(
        'Check EmailSender and ClusterEmailSender manifests offline (for GitOps CI): schema, and the SMTP URI when the referenced Secret is among the manifests. Exit 0 valid, 1 invalid, 2 usage or I/O error.',
      )
      .argument('<files...>', 'YAML files, multi-document allowed; "-" reads stdin')
      .addOption(
        new Option('-o, --output <format>', 'report format').choices(['text', 'json']).default('text'),
      )
      .option('-v, --verbose', 'also report skipped documents and the (redacted) URIs checked', false)
      .option(
        '--cluster-resource-namespace <ns>',
        "namespace of ClusterEmailSenders' Secrets (the controller's --cluster-resource-namespace)",
        DEFAULT_CLUSTER_RESOURCE_NAMESPACE,
      )
      // Usage errors exit 2, not commander's 1, so CI can tell "bad manifest" from "bad call".
      .exitOverride((err: CommanderError) => {
        if (err.exitCode === 0) process.exit(0);
        process.exit(EXIT.usage);
      })
      .action(async (files: string[], opts: ValidateOptions) => {
        process.exitCode = await runValidate(files, opts);
      })
  );
}
