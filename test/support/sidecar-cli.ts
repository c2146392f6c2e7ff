/**
 * Runs `mailroom sidecar` / `mailroom deliveries` as their own process, as the `mailroom` binary
 * does (src/cli/program.ts): `sidecar` with flags read without commander when they read cleanly,
 * anything else through the same registerSidecarCommands (tests that SIGKILL a sidecar need a
 * process).
 *
 * @module
 */
import { runSidecarArgs } from '../../src/cli/sidecar-run.ts';

const [command, ...args] = process.argv.slice(2);
if (!(command === 'sidecar' && (await runSidecarArgs(args)))) {
  const { Command } = await import('commander');
  const { registerSidecarCommands } = await import('../../src/cli/sidecar.ts');
  const program = new Command('mailroom');
  registerSidecarCommands(program);
  await program.parseAsync(process.argv);
}
