/**
 * `mailroom sidecar` (the sender beside an app) and `mailroom deliveries` (its delivery log), as
 * commander commands: their help, their errors, and the programs that register every command.
 * The sidecar's flags are declared in sidecar-flags.ts and its run in sidecar-run.ts, which
 * `mailroom sidecar` reaches without commander when its flags read cleanly (program.ts).
 *
 * @module
 */
import { type Command, Option } from 'commander';
import { MESSAGE_STATES, type MessageState } from '../sidecar/types.ts';
import { DeliveriesApiError, runDeliveries } from './deliveries.ts';
import { positiveInt, type SidecarFlags, sidecarFlagSpecs } from './sidecar-flags.ts';
import { runSidecar } from './sidecar-run.ts';

/** Registers `mailroom sidecar` and `mailroom deliveries` on the program. */
export function registerSidecarCommands(program: Command): void {
  const sidecar = program
    .command('sidecar')
    .description(
      'Run the sidecar sender: SMTP and HTTP front doors on loopback, durable queue, delivery upstream',
    );
  for (const spec of sidecarFlagSpecs()) {
    const option = new Option(spec.flags, spec.description);
    if (spec.parse) option.argParser(spec.parse);
    if (spec.default !== undefined) option.default(spec.default);
    if (spec.env) option.env(spec.env);
    sidecar.addOption(option);
  }
  sidecar.action((flags: SidecarFlags) => runSidecar(flags));

  program
    .command('deliveries')
    .description("Show the sidecar's delivery log: state, attempts and the server's replies")
    .addOption(new Option('--state <state>', 'only messages in this state').choices(MESSAGE_STATES))
    .option('--recipient <address>', 'only messages to this address')
    .option('--limit <n>', 'messages to show', positiveInt, 50)
    .option('-f, --follow', 'keep printing changes', false)
    .option('--json', 'one JSON object per line', false)
    .option('--api <url>', 'the sidecar HTTP API', process.env.MAILROOM_API_URL ?? 'http://127.0.0.1:8025')
    .addOption(
      new Option('--token <token>', "the sidecar's --http-token, when it has one").env('MAILROOM_HTTP_TOKEN'),
    )
    .action(
      async (o: {
        state?: MessageState;
        recipient?: string;
        limit: number;
        follow: boolean;
        json: boolean;
        api: string;
        token?: string;
      }) => {
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        try {
          await runDeliveries({ ...o, intervalMs: 1000, signal: ac.signal }, (line) =>
            process.stdout.write(`${line}\n`),
          );
        } catch (err) {
          if (err instanceof DeliveriesApiError) {
            process.stderr.write(`mailroom deliveries: ${err.message}\n`);
            process.exitCode = 1;
            return;
          }
          throw err;
        }
      },
    );
}
