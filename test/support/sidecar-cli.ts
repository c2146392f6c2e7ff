/**
 * Runs `mailroom sidecar` / `mailroom deliveries` as their own process, through the same
 * registerSidecarCommands the `mailroom` binary uses (tests that SIGKILL a sidecar need a process).
 *
 * @module
 */
import { Command } from 'commander';
import { registerSidecarCommands } from '../../src/cli/sidecar.ts';

const program = new Command('mailroom');
registerSidecarCommands(program);
await program.parseAsync(process.argv);
