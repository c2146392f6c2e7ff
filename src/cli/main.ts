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
 * @module
 */
const cache = new URL('../compile-cache/', import.meta.url);
const { existsSync } = process.getBuiltinModule('node:fs');
if (cache.protocol === 'file:' && existsSync(cache)) {
  const { enableCompileCache } = process.getBuiltinModule('node:module');
  const { fileURLToPath } = process.getBuiltinModule('node:url');
  // Portable: made under the build's directory, read under the image's (/app/dist).
  enableCompileCache({ directory: fileURLToPath(cache), portable: true });
}
await import('./program.ts');
