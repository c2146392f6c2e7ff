/**
 * The `mailroom` program (started by main.ts): one binary for the controller, the sidecar sender and
 * the tools around them.
 *
 * Each command's module is imported only when that command runs: the sidecar and the controller are
 * long-lived processes whose memory should not hold the demo's control plane harness, the webhook's
 * Kubernetes client or the deliverability library when they do not use them. `mailroom sidecar`,
 * started with every injected pod, goes further: it reads its flags without commander
 * (sidecar-flags.ts) and loads commander only for help or an error message.
 *
 * @module
 */
import type { Command } from 'commander';

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  controller: async () => (await import('./controller.ts')).registerControllerCommand,
  sidecar: async () => (await import('./sidecar.ts')).registerSidecarCommands,
  probe: async () => (await import('./probe.ts')).registerProbeCommand,
  send: async () => (await import('./send.ts')).registerSendCommand,
  validate: async () => (await import('./validate.ts')).registerValidateCommand,
  dev: async () => (await import('./dev.ts')).registerDevCommand,
  dkim: async () => (await import('./dkim.ts')).registerDkimCommand,
};
// `deliveries` is registered by the sidecar's module, beside `sidecar`.
const ALIASES: Record<string, string> = { deliveries: 'sidecar' };

const [command, ...args] = process.argv.slice(2);
if (!(command === 'sidecar' && (await (await import('./sidecar-run.ts')).runSidecarArgs(args))))
  await runProgram();

/** Runs the command the arguments name, through commander. */
async function runProgram(): Promise<void> {
  const { Command } = await import('commander');
  const program = new Command('mailroom')
    .description('Email sender configurations for Kubernetes: validate, probe and deliver through SMTP')
    .version('0.1.0')
    .showHelpAfterError();

  const first = process.argv.slice(2).find((a) => !a.startsWith('-'));
  const name = first && (ALIASES[first] ?? first);
  const wanted = name && name in COMMANDS ? [name] : Object.keys(COMMANDS);
  for (const register of await Promise.all(wanted.map((n) => COMMANDS[n]!()))) register(program);

  await program.parseAsync(process.argv);
}
