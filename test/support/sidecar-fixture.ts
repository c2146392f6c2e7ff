/**
 * One in-process sidecar delivering to a fresh smtp-server upstream (plaintext), for a `describe`
 * block: started before its tests, stopped after them.
 *
 * @module
 */
import { after, before } from 'node:test';
import { configFromFlags } from '../../src/sidecar/config.ts';
import type { Sidecar, SidecarOptions } from '../../src/sidecar/sidecar.ts';
import { testSidecar } from './sidecar-harness.ts';
import { type Received, startUpstream, tempDir, type Upstream, waitFor } from './sidecar-upstream.ts';

/** The sidecar and its upstream (set once the block's `before` ran), and a wait for a delivery. */
export interface SidecarFixture {
  sc: Sidecar & { lines: string[] };
  upstream: Upstream;
  /** The first message the upstream received with this Subject, waited for up to 20 s. */
  arrived: (subject: string) => Promise<Received>;
  /** The sidecar's data directory. */
  dir: string;
}

/** Registers the block's `before` and `after`; `extra` goes to the sidecar's options. */
export function sidecarFixture(extra: Partial<SidecarOptions> = {}): SidecarFixture {
  const tmp = tempDir();
  const f = {
    dir: tmp.dir,
    arrived: (subject: string) =>
      waitFor(() => f.upstream.received.find((m) => m.headers.get('subject') === subject), 20_000),
  } as SidecarFixture;
  before(async () => {
    f.upstream = await startUpstream();
    f.sc = await testSidecar(
      tmp.dir,
      configFromFlags({
        uri: `smtp://127.0.0.1:${f.upstream.port}/?disable_starttls=true`,
        from: 'no-reply@example.com',
      }),
      extra,
    );
  });
  after(async () => {
    await f.sc?.stop();
    await f.upstream?.close();
    tmp.remove();
  });
  return f;
}
