import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { QueueStore } from './store.ts';
import type { NewMessage } from './types.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const open = (dir = mkdtempSync(join(tmpdir(), 'mailroom-store-'))) => {
  dirs.push(dir);
  return { dir, store: new QueueStore(dir, { windowMs: 1 }) };
};
const msg = (n: number, key?: string): NewMessage => ({
  door: 'http',
  kind: 'json',
  payload: Buffer.from(`{"n":${n}}`),
  recipients: [`u${n}@example.org`],
  subject: `s${n}`,
  ...(key ? { idempotencyKey: key } : {}),
});
const attempt = (code: number | null) => ({
  at: new Date().toISOString(),
  code,
  reply: `${code}`,
  durationMs: 1,
});

describe('QueueStore', () => {
  it('commits many enqueues in one group commit', async () => {
    const { store } = open();
    const before = store.committer.commits;
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.enqueue(msg(i))));
    assert.equal(store.committer.commits - before, 1);
    assert.equal(store.counts().queued, 50);
    store.close();
  });

  it('claims due messages once, records attempts, and clears the body when done', async () => {
    const { store } = open();
    const { id } = await store.enqueue(msg(1));
    const [m] = await store.claim(10);
    assert.equal(m?.id, id);
    assert.deepEqual(await store.claim(10), [], 'a claimed message is not claimed again');
    await store.finish(m!.seq, {
      state: 'deferred',
      attempt: attempt(451),
      configRevision: 'r1',
      nextAttemptAt: Date.now() + 60_000,
    });
    assert.deepEqual(await store.claim(10), [], 'not due yet');
    await store.finish(m!.seq, { state: 'sent', attempt: attempt(250), configRevision: 'r1' });
    const v = store.get(id)!;
    assert.equal(v.state, 'sent');
    assert.deepEqual(
      v.attempts.map((a) => a.code),
      [451, 250],
    );
    const row = store.db.prepare('SELECT payload FROM messages WHERE id = ?').get(id) as { payload: unknown };
    assert.equal(row.payload, null);
    store.close();
  });

  it('returns sending rows to the queue when reopened', async () => {
    const { dir, store } = open();
    await store.enqueue(msg(1));
    await store.claim(10);
    store.close();
    const again = new QueueStore(dir);
    assert.equal(again.recovered, 1);
    assert.equal(again.counts().queued, 1);
    again.close();
  });

  it('keeps one message per idempotency key', async () => {
    const { store } = open();
    const [a, b] = await Promise.all([store.enqueue(msg(1, 'k')), store.enqueue(msg(2, 'k'))]);
    assert.equal(a.id, b.id);
    assert.deepEqual([a.duplicate, b.duplicate], [false, true]);
    assert.equal(store.counts().queued, 1);
    store.close();
  });

  it('purges finished messages past retention only', async () => {
    const { store } = open();
    await store.enqueue(msg(1));
    await store.enqueue(msg(2));
    const [m] = await store.claim(1);
    await store.finish(
      m!.seq,
      { state: 'abandoned', attempt: attempt(550), configRevision: 'r' },
      Date.now() - 10_000,
    );
    assert.equal(store.purge(Date.now() - 5_000), 1);
    assert.deepEqual(store.counts(), { queued: 1, sending: 0, sent: 0, deferred: 0, abandoned: 0 });
    store.close();
  });
});
