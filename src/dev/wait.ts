/**
 * Small waiting helpers for the demo: a free port, polling a condition, an HTTP endpoint coming up.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Polls `probe` every 250 ms until it returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `gave up after ${timeoutMs / 1000} s${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await sleep(250);
  }
}

/** Waits until `url` answers 200; fails early when one of `children` exits. */
export async function waitHttp(url: string, timeoutMs: number, children: ChildProcess[] = []): Promise<void> {
  await waitFor(async () => {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead)
      throw Object.assign(new Error(`a process exited with ${dead.exitCode} (see its log)`), { fatal: true });
    const res = await fetch(url).catch(() => undefined);
    return res?.status === 200 ? true : undefined;
  }, timeoutMs);
}
