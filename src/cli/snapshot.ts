/**
 * The entry of the injected sidecar's V8 startup snapshot, `dist/sidecar.blob`: the webhook starts
 * the sidecar as `node --snapshot-blob /app/dist/sidecar.blob sidecar ARGS` (inject.ts).
 *
 * scripts/snapshot.ts bundles this module with everything `mailroom sidecar` loads into one
 * CommonJS script and has Node run it once at build time (`--build-snapshot`): the modules are
 * evaluated then (zod's schemas built, the libraries set up) and the heap is kept in the blob. A
 * sidecar started from the blob deserializes that heap instead of reading, compiling and
 * evaluating its modules. Measured on the built sidecar as injected (7 alternating runs, medians,
 * load 2.5-2.8): idle RSS 65.2 -> 59.4 MB, CPU to ready 370 -> 310 ms (docs/sidecar.md).
 *
 * What the blob must not hold, because it would be the build's and not the process's, happens in
 * the function below, run at each start: flags and the environment read, the logger's streams,
 * the queue's database, sockets and timers (all in {@link runSidecarArgs}). node:http, node:tls and
 * node:sqlite cannot be serialized by V8; the bundle reads them on first use (scripts/snapshot.ts).
 *
 * A blob runs only on the node binary that built it: on another, Node refuses it with a message
 * naming both versions and exits 14, before any of this runs (the Dockerfile builds it with the
 * image's own node). Anything but `sidecar` with flags it can read (help, a usage error, another
 * command) runs the whole CLI, dist/cli/main.js, in a child process: a snapshot's main function
 * cannot `import()`.
 *
 * @module
 */
import { API_VERSION } from '../api/message-fields.ts';
import { RENDERED_CONFIG_KIND, renderedConfigSchema } from '../api/rendered-config.ts';
import { runSidecarArgs } from './sidecar-run.ts';

const v8 = process.getBuiltinModule('node:v8');

// At build time, the config schema parses one document, so the blob holds what zod makes on a
// schema's first parse (its compiled fast paths, the normalized shapes) and a sidecar does not
// make them again before it is ready. The document is a literal: nothing of the process that built
// the blob (its env, its random keys) goes into it.
renderedConfigSchema.safeParse({
  apiVersion: API_VERSION,
  kind: RENDERED_CONFIG_KIND,
  sender: { namespace: 'build', name: 'snapshot' },
  revision: 'snapshot',
  smtp: { uri: 'smtp://user:password@mail.example.com:587/' },
  from: { address: 'no-reply@example.com', name: 'Snapshot' },
  headers: { 'X-Snapshot': 'yes' },
  delivery: { maxAttempts: 6, maxBackoffMs: 3_600_000, ratePerSecond: 0 },
});

v8.startupSnapshot.setDeserializeMainFunction(() => {
  // As main.ts does for the sidecar (see there): no TurboFan.
  v8.setFlagsFromString('--no-turbofan');
  // No script name: argv is [node, 'sidecar', ...flags].
  const [command, ...args] = process.argv.slice(1);
  const ran = command === 'sidecar' ? runSidecarArgs(args) : Promise.resolve(false);
  ran.then(
    (done) => {
      if (!done) runWholeCli();
    },
    (err: unknown) => {
      // As an unhandled rejection in main.ts would end: the error printed, exit code 1.
      console.error(err);
      process.exitCode = 1;
    },
  );
});

/** Runs dist/cli/main.js with the same arguments, and exits as it did. */
function runWholeCli(): void {
  // The built CLI beside the blob's bundle: dist/snapshot/sidecar.cjs -> dist/cli/main.js.
  const main = process.getBuiltinModule('node:path').join(__dirname, '../cli/main.js');
  const r = process
    .getBuiltinModule('node:child_process')
    .spawnSync(process.execPath, [main, ...process.argv.slice(1)], { stdio: 'inherit' });
  if (r.error) console.error(`mailroom: cannot run ${main}: ${r.error.message}`);
  process.exitCode = r.status ?? 1;
}
