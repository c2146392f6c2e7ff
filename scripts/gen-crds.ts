/**
 * Writes the generated CRD to `crds/` and its copy in `deploy/crds/` (`npm run gen:crds`), or with
 * `--check` exits 1 when a checked-in file differs from what the generator makes now.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CRD_PATHS, emailSenderCrdYaml } from '../src/api/crd.ts';

const want = emailSenderCrdYaml();
const check = process.argv.includes('--check');
let stale = false;

for (const path of CRD_PATHS) {
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
