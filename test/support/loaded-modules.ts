/**
 * Preloaded into a process under test (`--import`): on SIGUSR2 it prints one JSON line to stdout,
 * `{"loadedModules":{"builtins":[…],"files":[…]}}`: the Node built-ins loaded so far and the files
 * in the CommonJS module cache (what `require` loaded, with `createRequire` too).
 *
 * @module
 */
import { createRequire } from 'node:module';

const { cache } = createRequire(import.meta.url);
process.on('SIGUSR2', () => {
  // process.moduleLoadList: Node's own record of what it loaded (not in @types/node).
  const builtins = (process as unknown as { moduleLoadList: string[] }).moduleLoadList
    .filter((m) => m.startsWith('NativeModule '))
    .map((m) => m.slice('NativeModule '.length));
  process.stdout.write(`${JSON.stringify({ loadedModules: { builtins, files: Object.keys(cache) } })}\n`);
});
