/**
 * A `mailroom`-like program holding only `validate`, so its tests run the real commander parsing
 * and exit codes without depending on the rest of the CLI.
 */
import { Command } from 'commander';
import { registerValidateCommand } from '../../src/cli/validate.ts';

const program = new Command('mailroom');
registerValidateCommand(program);
await program.parseAsync(process.argv);
