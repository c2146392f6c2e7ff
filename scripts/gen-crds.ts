/**
 * Writes the generated CRDs to `crds/` and their copies in `deploy/crds/` and `charts/mailroom/crds/`
 * (`npm run gen:crds`), or with `--check` exits 1 when a checked-in file differs from what the
 * generator makes now.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { crdPaths, SENDER_CRDS, senderCrdYaml } from '../src/api/crd.ts';

const check = process.argv.includes('--check');
let stale = false;

for (const [path, want] of SENDER_CRDS.flatMap((src) =>
  crdPaths(src.plural).map((p) => [p, senderCrdYaml(src)] as const),
)) {
  const file = new URL(`../${path}`, import.meta.url);
  if (check) {
    const have = await readFile(file, 'utf8').catch(() => '');
    if (have !== want) {
      console.error(`${path} is out of date: run npm run gen:crds`);
      stale = true;
    }
  } else {
    await writeFile(file, want);
    console.error(`wrote ${path}`);
  }
}
if (stale) process.exit(1);
