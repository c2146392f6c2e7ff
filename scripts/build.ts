/**
 * Builds the shipped artifact, `dist/` (`dist/cli/main.js` and the chunks it imports): `npm run
 * build`, the Dockerfile and the benches all run this one script, so what is measured is what ships.
 * Tests run the TypeScript sources.
 *
 * An esbuild bundle, not `tsc`'s one file per module, because start-up and idle memory are spent on
 * modules. Measured on the idle sidecar as injected (the webhook's args and NODE_OPTIONS, 5 runs,
 * same minute): compiled by tsc it loads ~350 files (zod alone 95, 60 of them locales it never
 * uses) and idles at 81 MB RSS after 590 ms of CPU to ready; bundled as below it loads 12 files and
 * idles at 72.5 MB after 440 ms of CPU (`npm run bench:sidecar -- --only-start` gives the figures
 * in docs/sidecar.md). What saves it:
 * - tree shaking: zod's namespace is imported as `import * as z`, so only the schemas in use are
 *   kept (97K of zod instead of 850K);
 * - splitting: each command's module (`import()` in cli/program.ts) is its own chunk, so a process
 *   loads only its command's code, as with tsc's output;
 * - minified whitespace and syntax (less source text held by V8); identifiers are kept, so stack
 *   traces and logged error types stay readable (minifying them too saved no measurable RSS).
 *
 * Bundled: our sources and the pure-JavaScript libraries on the sidecar's and the CLI's start path
 * ({@link BUNDLED}, and what they require). Every other package stays in node_modules and loads at
 * run time as before: those loaded lazily through `createRequire` (nodemailer, smtp-server,
 * mailauth, yaml), and the controller's and tools' libraries, some of which find files next to
 * their own code.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { renderFromFlags } from '../src/sidecar/config.ts';
import { SIDECAR_NODE_OPTIONS } from '../src/webhook/constants.ts';
import { buildSidecarSnapshot } from './snapshot.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Packages bundled, with everything they require. */
const BUNDLED = new Set(['zod', 'commander', 'prom-client', 'pino']);

/** Keeps a bare import from our sources external unless its package is in {@link BUNDLED}. */
const externals: Plugin = {
  name: 'mailroom-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.importer.includes('/node_modules/')) return undefined;
      const name = args.path.startsWith('@')
        ? args.path.split('/').slice(0, 2).join('/')
        : args.path.split('/')[0]!;
      return BUNDLED.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

/**
 * Node's built-in modules as CommonJS (`process.getBuiltinModule`), not as ES imports. An ES import
 * of a built-in makes Node build a facade that reads every export once, which runs the module's lazy
 * getters: `node:util`'s load `TextDecoder`'s encoding tables and, through another getter, the
 * worker_threads module; `node:fs`'s load its streams. esbuild's CommonJS interop reads an export
 * only where the code uses it, so a module loads only what it uses.
 */
const builtins: Plugin = {
  name: 'mailroom-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * Modules that bundled libraries require at load but use only on paths the processes never take,
 * replaced by stand-ins that load the real module on first use (through the banner's `require`,
 * from node_modules, where it still is). Each is evaluated at start otherwise; measured on the idle
 * sidecar as injected, the three together: -0.4 MB resident (see the commit).
 * - `@opentelemetry/api` (43K): prom-client's CPU counter reads the active span only for exemplars,
 *   which no metric enables.
 * - `thread-stream` (with node:worker_threads): pino's transports, which no logger uses.
 * - `assert` (node:assert and its diff and error modules): sonic-boom and thread-stream assert only
 *   while closing a stream.
 */
const LAZY: Record<string, string> = {
  '@opentelemetry/api': `let api; const load = () => (api ??= require('@opentelemetry/api'));
module.exports = { get trace() { return load().trace; }, get context() { return load().context; } };`,
  'thread-stream': `module.exports = function ThreadStream(...args) { return new (require('thread-stream'))(...args); };`,
  assert: `module.exports = (...args) => process.getBuiltinModule('node:assert')(...args);`,
};
const lazy: Plugin = {
  name: 'mailroom-lazy',
  setup(b) {
    b.onResolve({ filter: /^(@opentelemetry\/api|thread-stream|assert)$/ }, (args) =>
      args.importer.includes('/node_modules/') ? { path: args.path, namespace: 'lazy' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({ contents: LAZY[args.path], loader: 'js' }));
  },
};

rmSync(`${root}/dist`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { 'cli/main': 'src/cli/main.ts' },
  outdir: 'dist',
  // Same depth as the sources (dist/<dir>/<file>.js), so `new URL('../../crds', import.meta.url)` holds.
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.19',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [lazy, builtins, externals],
  // The bundled CommonJS libraries `require` Node's built-ins; an ES module has no `require`. Not an
  // ES import of node:module: that would evaluate its lazy exports (source maps, loader hooks).
  banner: {
    js: "const require=process.getBuiltinModule('node:module').createRequire(import.meta.url);",
  },
});

await trainCompileCache();
// The injected sidecar's startup snapshot, dist/sidecar.blob (scripts/snapshot.ts), from the same
// stand-ins and externals.
await buildSidecarSnapshot(root, [lazy, externals]);

/**
 * Fills `dist/compile-cache/` (read by cli/main.ts) with the code V8 compiles while the built
 * sidecar starts as the webhook injects it (its NODE_OPTIONS: V8 refuses a cache made under other
 * flags), is ready, and asks its upstream what it offers; written when the process exits.
 */
async function trainCompileCache(): Promise<void> {
  const cache = join(root, 'dist/compile-cache');
  mkdirSync(cache);
  const tmp = mkdtempSync(join(tmpdir(), 'mailroom-build-'));
  try {
    const config = join(tmp, 'config.json');
    // An upstream that refuses at once (port 9, discard): the question fails fast and offline.
    writeFileSync(
      config,
      JSON.stringify(
        renderFromFlags({ uri: 'smtp://127.0.0.1:9/?disable_starttls=true', from: 'build@example.com' }),
      ),
    );
    const child = spawn(
      process.execPath,
      [
        join(root, 'dist/cli/main.js'),
        'sidecar',
        '--config',
        config,
        '--data-dir',
        join(tmp, 'data'),
        '--http-listen',
        '127.0.0.1:0',
        '--smtp-listen',
        '127.0.0.1:0',
      ],
      { env: { ...process.env, NODE_OPTIONS: SIDECAR_NODE_OPTIONS }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    let out = '';
    for await (const chunk of child.stdout!) {
      out += chunk;
      if (out.includes('"sidecar listening"')) break;
    }
    // What follows ready (the upstream question) compiles too.
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    if (code !== 0) throw new Error(`the sidecar started to fill the compile cache exited ${code}: ${out}`);
    // Node writes its cache files 0600; the image runs as another user than the one that built it.
    for (const f of readdirSync(cache, { recursive: true, withFileTypes: true })) {
      if (f.isFile()) chmodSync(join(f.parentPath, f.name), 0o644);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
