/**
 * `mailroom dev`: the local demo (`npm start`).
 *
 * @module
 */
import type { Command } from 'commander';
import { runDemo } from '../dev/demo.ts';

/** Adds `dev` to the program. */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'Run the whole system locally: a control plane, the CRDs, a mail sink, the controller, a sidecar and example senders',
    )
    .option(
      '--check',
      'verify what the demo shows, print PASS/FAIL lines, stop everything and exit (0 only if all passed)',
      false,
    )
    .option('--keep', 'keep the demo folder (logs, kubeconfig, delivered mail) after stopping', false)
    .action(async (flags: { check: boolean; keep: boolean }) => {
      process.exitCode = await runDemo(flags);
    });
}
