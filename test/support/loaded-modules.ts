/**
 * Preloaded into a process under test (`--import`): on SIGUSR2 it prints one JSON line to stdout,
 * `{"loadedModules":{"builtins":[…],"files":[…]}}`: the Node built-ins loaded so far and the files
 * loaded: those in the CommonJS module cache (what `require` loaded, with `createRequire` too) and
 * the ES modules (our sources), recorded by a module hook as they load.
 *
 * @module
 */
import { createRequire, registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

const { cache } = createRequire(import.meta.url);
const esModules: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith('file:')) esModules.push(fileURLToPath(url));
    return nextLoad(url, context);
  },
});
process.on('SIGUSR2', () => {
  // process.moduleLoadList: Node's own record of what it loaded (not in @types/node).
  const builtins = (process as unknown as { moduleLoadList: string[] }).moduleLoadList
    .filter((m) => m.startsWith('NativeModule '))
    .map((m) => m.slice('NativeModule '.length));
  process.stdout.write(
    `${JSON.stringify({ loadedModules: { builtins, files: [...esModules, ...Object.keys(cache)] } })}\n`,
  );
});
