import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { memoryLogger, startUpstream, tempDir, waitFor } from '../../test/support/sidecar-upstream.ts';
import { configFromFlags } from './config.ts';
import { QueueStore } from './store.ts';
import type { NewMessage } from './types.ts';
import { DeliveryWorker } from './worker.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const msg = (n: number): NewMessage => ({
  door: 'http',
  kind: 'json',
  payload: Buffer.from(JSON.stringify({ to: `u${n}@example.org`, subject: `s${n}`, text: `m${n}` })),
  recipients: [`u${n}@example.org`],
  subject: `s${n}`,
});

describe('DeliveryWorker: new mail taken at intake', () => {
  it('waits its turn while mail in the queue is due, is taken once nothing waits, and is sent once', async () => {
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const store = new QueueStore(tmp.dir, { windowMs: 1, spareBytes: 64 * 1024 });
    cleanups.push(() => store.close());
    // Queued before any worker: it waits in the queue, due now.
    const a = await store.enqueue(msg(1));
    const worker = new DeliveryWorker({ store, logger: memoryLogger().logger, maxInFlight: 4 });
    cleanups.push(() => worker.stop(2000));
    worker.setConfig(
      configFromFlags({
        uri: `smtp://127.0.0.1:${upstream.port}/?disable_starttls=true`,
        from: 'n@example.com',
      }),
    );
    worker.start();
    // Slots are free, but the message in the queue is due: new mail does not skip it.
    assert.equal(worker.take(-1, 100, 'json', Date.now()), false);
    await waitFor(() => store.get(a.id)?.state === 'sent');

    // Nothing waits now: a new message is taken as it is stored, and sent without a claim.
    const b = await store.enqueue(msg(2));
    assert.equal(store.get(b.id)?.state, 'sending', 'taken in the transaction that stored it');
    assert.deepEqual(await store.claim(10), [], 'no claim finds it');
    await waitFor(() => store.get(b.id)?.state === 'sent');
    const sent = store.get(b.id)!;
    assert.deepEqual(
      sent.attempts.map((x) => x.code),
      [250],
    );
    assert.deepEqual(
      upstream.received.map((r) => r.headers.get('subject')),
      ['s1', 's2'],
      'each sent once, in the order they came',
    );
    assert.equal(worker.inFlight, 0);
  });
});
