/**
 * Loopback helpers: free ports and a readiness poll.
 *
 * @module
 */

import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Returns `count` distinct free TCP ports on 127.0.0.1. All listeners stay open until every port is
 * known, so the kernel cannot hand out the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port assigned');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** GETs `url` once and returns the status code, or 0 when nothing answered. */
export function probe(url: string, token?: string): Promise<number> {
  const send = url.startsWith('https:') ? request : httpRequest;
  return new Promise((resolve) => {
    const req = send(
      url,
      {
        method: 'GET',
        timeout: 2_000,
        // Only a readiness probe of a process we just started on loopback, before its CA is known.
        rejectUnauthorized: false,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Polls `url` until it answers 200. Gives up when `alive()` turns false (the process died, so
 * waiting longer cannot help) or after `timeoutMs`; the thrown message says which.
 */
export async function waitReady(
  url: string,
  opts: { token?: string; timeoutMs: number; alive: () => boolean },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (!opts.alive()) throw new Error(`exited before ${url} answered`);
    last = await probe(url, opts.token);
    if (last === 200) return;
    await sleep(50);
  }
  throw new Error(`${url} not ready after ${opts.timeoutMs} ms (last status ${last || 'none'})`);
}
