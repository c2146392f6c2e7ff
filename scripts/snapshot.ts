/**
 * Builds the injected sidecar's V8 startup snapshot (src/cli/snapshot.ts says what it holds and
 * why): `dist/snapshot/sidecar.cjs`, the sidecar bundled into the one CommonJS script Node's
 * `--build-snapshot` runs, and `dist/sidecar.blob`, built from it by
 * `dist/snapshot/build.sh` with the node binary that will run it (the build runs that script with
 * its own node; the Dockerfile runs it again in the image with the image's).
 *
 * The blob holds absolute paths (where the bundle finds the built CLI and node_modules), so it is
 * built where it runs: in place in dist/, and in the image in /app/dist.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

/**
 * Built-in modules V8 cannot serialize (their bindings hold native state): the bundle gets an
 * object with the same exports, each read from the real module on first use, at run time.
 */
const UNSERIALIZABLE = new Set(['node:http', 'node:https', 'node:http2', 'node:tls', 'node:sqlite']);

/** Every built-in (`node:x` or bare `x`) from `process.getBuiltinModule`, as in build.ts. */
const builtins: Plugin = {
  name: 'mailroom-snapshot-builtins',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      isBuiltin(args.path) && args.path !== 'assert'
        ? { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: 'builtin' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const name = JSON.stringify(args.path);
      if (!UNSERIALIZABLE.has(args.path))
        return { contents: `module.exports = process.getBuiltinModule(${name});`, loader: 'js' };
      const keys = JSON.stringify(Object.keys(process.getBuiltinModule(args.path) as object));
      return {
        contents: `for (const k of ${keys}) Object.defineProperty(module.exports, k,
  { get: () => process.getBuiltinModule(${name})[k], enumerable: true });`,
        loader: 'js',
      };
    });
  },
};

/**
 * prom-client's process_start_time_seconds is computed when its module loads: in a snapshot, that
 * would be the build's time. Computed at the first scrape instead (from the process's uptime, so
 * the same value).
 */
const startTime: Plugin = {
  name: 'mailroom-snapshot-start-time',
  setup(b) {
    b.onLoad({ filter: /prom-client\/lib\/metrics\/processStartTime\.js$/ }, async (args) => {
      const { readFileSync } = await import('node:fs');
      const before = readFileSync(args.path, 'utf8');
      const text = before
        .replace(
          'const startInSeconds = Math.round(Date.now() / 1000 - process.uptime());',
          'let startInSeconds;',
        )
        .replace(
          'this.set(labels, startInSeconds);',
          'this.set(labels, (startInSeconds ??= Math.round(Date.now() / 1000 - process.uptime())));',
        );
      if (text === before || !text.includes('startInSeconds ??='))
        throw new Error(`${args.path} changed: process_start_time_seconds would be the build's`);
      return { contents: text, loader: 'js' };
    });
  },
};

/**
 * Bundles the sidecar for the snapshot and builds `dist/sidecar.blob` with this process's node.
 * `plugins` are build.ts's own (its stand-ins for libraries' unused modules and its externals).
 */
export async function buildSidecarSnapshot(root: string, plugins: Plugin[]): Promise<void> {
  const dir = join(root, 'dist/snapshot');
  await build({
    absWorkingDir: root,
    entryPoints: ['src/cli/snapshot.ts'],
    outfile: 'dist/snapshot/sidecar.cjs',
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node22.19',
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    plugins: [startTime, ...plugins.filter((p) => p.name !== 'mailroom-builtins'), builtins],
    // The CommonJS libraries' `require` of node_modules (build.ts's stand-ins, nodemailer and
    // smtp-server in mail-libs.ts) resolves from dist/cli/, as in the ES build.
    define: { 'import.meta.url': '__mailroomUrl' },
    banner: {
      js: "var __mailroomUrl=process.getBuiltinModule('node:url').pathToFileURL(process.getBuiltinModule('node:path').join(__dirname,'../cli/main.js')).href;var require=process.getBuiltinModule('node:module').createRequire(__mailroomUrl);",
    },
  });
  // withoutCodeCache: a blob with V8's code cache of Node's own modules is 8 MB instead of 3.4
  // and starts slower (measured: +60-100 ms of CPU for an empty snapshot); Node's binary already
  // carries that cache for the modules it loads.
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ builder: 'sidecar.cjs', withoutCodeCache: true }));
  const script = join(dir, 'build.sh');
  writeFileSync(
    script,
    `#!/bin/sh
# Builds dist/sidecar.blob (the sidecar's startup snapshot) with the node on PATH, which must be
# the one that runs it. Run again wherever dist/ is moved to (the blob holds absolute paths).
set -e
cd "$(dirname "$0")"
env -u NODE_OPTIONS node --snapshot-blob ../sidecar.blob --build-snapshot-config config.json
chmod 644 ../sidecar.blob
`,
  );
  chmodSync(script, 0o755);
  execFileSync('sh', [script], {
    stdio: 'inherit',
    env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` },
  });
}
