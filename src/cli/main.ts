#!/usr/bin/env node
/**
 * `mailroom`'s entry point: turns on the V8 code cache shipped with the build, then runs the
 * program (program.ts and the command it names).
 *
 * `scripts/build.ts` starts the built sidecar once, as the webhook injects it, and keeps what V8
 * compiled in `dist/compile-cache/`; the image carries it. A sidecar started from `dist/` then reads
 * its modules' compiled code instead of compiling them: ~30 ms less CPU to ready (docs/sidecar.md).
 * Node keys the cache on V8's flags and the user, so other flags (the controller's) or another user
 * simply compile as before. Running from the sources, there is no cache. This module is the whole
 * entry so that everything else, the CLI library included, loads after the cache is on.
 *
 * The sidecar runs without V8's top tier (TurboFan): Maglev still optimizes its hot code. TurboFan's
 * compiler is megabytes of machine code paged in from the node binary on first use, and its
 * compile jobs allocate on background threads whose malloc arenas keep what they freed. Measured on
 * the built sidecar as injected (3 alternating runs each, load 3.8-4.9): max-size messages under a
 * stalled upstream (the bench's scenario) peak 106-113 MB RSS with it, 97-100 MB without; a burst
 * of 15,000 HTTP messages peaks 103-107 MB with it, 92-94 MB without, at the same CPU time per
 * message (615-730 vs 667-733 µs). Set first, so that everything the sidecar compiles and caches is
 * compiled under the same flags (the compile cache is keyed on them).
 *
 * @module
 */
// The command is the first argument that is not an option, as program.ts finds it.
if (process.argv.slice(2).find((a) => !a.startsWith('-')) === 'sidecar')
  process.getBuiltinModule('node:v8').setFlagsFromString('--no-turbofan');
const cache = new URL('../compile-cache/', import.meta.url);
const { existsSync } = process.getBuiltinModule('node:fs');
if (cache.protocol === 'file:' && existsSync(cache)) {
  const { enableCompileCache } = process.getBuiltinModule('node:module');
  const { fileURLToPath } = process.getBuiltinModule('node:url');
  // Portable: made under the build's directory, read under the image's (/app/dist).
  enableCompileCache({ directory: fileURLToPath(cache), portable: true });
}
await import('./program.ts');
