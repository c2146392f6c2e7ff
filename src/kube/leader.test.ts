import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../runtime/logger.ts';
import { LeaderElector } from './leader.ts';
import { KubeApiError, type KubeRest, type RequestInit } from './rest.ts';

/** A Lease API in memory that can stop answering: requests then hang until their signal aborts. */
function fakeLeaseApi() {
  let lease: { metadata: Record<string, unknown>; spec: Record<string, unknown> } | undefined;
  let rv = 0;
  // conflicts: how many of the next writes fail with 409 (a write that raced another one).
  const state = { silent: false, aborted: 0, conflicts: 0 };
  const request = (method: string, _path: string, init: RequestInit = {}): Promise<unknown> => {
    if (state.silent) {
      return new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => {
          state.aborted++;
          reject(new Error('aborted'));
        });
      });
    }
    if (method === 'GET') {
      return lease
        ? Promise.resolve(structuredClone(lease))
        : Promise.reject(new KubeApiError(404, 'NotFound', 'no lease'));
    }
    if (state.conflicts > 0) {
      state.conflicts--;
      return Promise.reject(new KubeApiError(409, 'Conflict', 'the object has been modified'));
    }
    const body = init.body as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } };
    return Promise.resolve(structuredClone(lease));
  };
  // Only `request` is used by the elector; the rest of KubeRest is not needed here.
  return { rest: { request } as unknown as KubeRest, state };
}

describe('LeaderElector', () => {
  test('refuses timings that would let a leader outlive its lease', () => {
    const { rest } = fakeLeaseApi();
    const log = createLogger({ level: 'silent' });
    const base = { rest, log, namespace: 'ns', name: 'l', identity: 'a' };
    assert.throws(
      () => new LeaderElector({ ...base, leaseDurationMs: 5000, renewDeadlineMs: 5000 }),
      /must exceed the renew deadline/,
    );
    assert.throws(
      () => new LeaderElector({ ...base, renewDeadlineMs: 1000, retryPeriodMs: 1000 }),
      /1.2 × the retry period/,
    );
  });

  test('an API server that stops answering: the hanging renewal is aborted and the term ends at the renew deadline', async () => {
    const { rest, state } = fakeLeaseApi();
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (l: string) => lines.push(l) } });
    const elector = new LeaderElector({
      rest,
      log,
      namespace: 'ns',
      name: 'l',
      identity: 'a',
      leaseDurationMs: 600,
      renewDeadlineMs: 400,
      retryPeriodMs: 100,
    });
    let startedAt = 0;
    let stoppedAt = 0;
    let silentAt = 0;
    const done = elector.run(
      () => {
        startedAt = performance.now();
        setTimeout(() => {
          state.silent = true;
          silentAt = performance.now();
        }, 250);
      },
      () => {
        stoppedAt = performance.now();
      },
    );
    await done;
    assert.ok(startedAt > 0 && stoppedAt > 0, 'started, then stopped');
    assert.equal(elector.isLeader, false);
    // The last renewal was sent before the silence; the term ends renewDeadline after it, not
    // when some request gives up (here: never). The slack is for a loaded machine's timers.
    assert.ok(
      stoppedAt - silentAt <= 400 + 600,
      `stopped ${Math.round(stoppedAt - silentAt)} ms after the silence`,
    );
    assert.ok(
      stoppedAt - silentAt >= 400 - 100 - 50,
      `not before the deadline: ${Math.round(stoppedAt - silentAt)} ms`,
    );
    assert.ok(state.aborted >= 1, 'the hanging request was aborted');
    assert.ok(lines.some((l) => l.includes('leadership lost')));
  });

  for (const conflicts of [0, 1]) {
    test(`release stops campaigning and frees the lease${conflicts ? ', also when its write races a renewal (409)' : ''}`, async () => {
      const { rest, state } = fakeLeaseApi();
      const log = createLogger({ level: 'silent' });
      const elector = new LeaderElector({
        rest,
        log,
        namespace: 'ns',
        name: 'l',
        identity: 'a',
        retryPeriodMs: 100,
        renewDeadlineMs: 400,
        leaseDurationMs: 600,
      });
      let stopped = false;
      const done = elector.run(
        () => {},
        () => {
          stopped = true;
        },
      );
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(elector.isLeader, true);
      state.conflicts = conflicts;
      await elector.release();
      await done;
      assert.equal(stopped, false, 'a release is not a loss');
      const lease = (await rest.request('GET', '/')) as { spec: { holderIdentity: string | null } };
      assert.equal(lease.spec.holderIdentity, null);
      assert.equal(state.conflicts, 0);
    });
  }
});
