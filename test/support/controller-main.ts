/**
 * Entry point that runs `mailroom controller` with only the controller command registered, so the
 * e2e tests run the real command as a separate process regardless of what else `main.ts` wires.
 */
import { Command } from 'commander';
import { registerControllerCommand } from '../../src/cli/controller.ts';

const program = new Command('mailroom');
registerControllerCommand(program);
await program.parseAsync(process.argv);
