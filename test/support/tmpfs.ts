/**
 * A real small filesystem for full-disk tests: a tmpfs mounted on a fresh temp directory (the tests
 * run as root), and a ballast file that fills it.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mounts a tmpfs of `size` (`32m`); `remove` unmounts it and deletes the directory. */
export function mountTmpfs(size: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mailroom-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remove: () => {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Appends to `file` until its filesystem says ENOSPC. */
export function fillUntilFull(file: string): void {
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(1 << 20, 0x62);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}
