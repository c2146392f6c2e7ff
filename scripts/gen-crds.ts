/**
 * Writes the generated CRD to `crds/` (`npm run gen:crds`), or with `--check` exits 1 when the
 * checked-in file differs from what the generator makes now.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CRD_PATH, emailSenderCrdYaml } from '../src/api/crd.ts';

const file = new URL(`../${CRD_PATH}`, import.meta.url);
const want = emailSenderCrdYaml();

if (process.argv.includes('--check')) {
  const have = await readFile(file, 'utf8').catch(() => '');
  if (have !== want) {
    console.error(`${CRD_PATH} is out of date: run npm run gen:crds`);
    process.exit(1);
  }
} else {
  await writeFile(file, want);
  console.error(`wrote ${CRD_PATH}`);
}
