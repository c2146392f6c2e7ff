import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { messageId, whereId } from './message-id.ts';

describe('message ids', () => {
  it('are version 8 UUIDs in the order of their time that carry their seq', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const ids = [0, 1, 1_000, Date.now(), 2 ** 48 - 1].map((t, i) => messageId(randomUUID(), t, i * 1000));
    for (const id of ids) assert.match(id, uuid);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(ids[0]!.slice(0, 13), '00000000-0000');
    const seqs = [1, 255, 2 ** 48 - 1];
    for (const seq of seqs)
      assert.deepEqual(whereId(messageId(randomUUID(), 5, seq)).args[0], seq, `seq ${seq} read back`);
    assert.throws(() => messageId(randomUUID(), 5, 2 ** 48), RangeError);
  });

  it('looks an id given before (version 7 or 4, or anything else) up by its index', () => {
    for (const id of [
      randomUUID(),
      '01a22a02-b270-7b16-9016-3c0b080e75c4',
      'a',
      '01A22A02-B270-8B16-9016-3C0B080E75C4',
    ])
      assert.deepEqual(whereId(id), { where: "WHERE id = ? AND substr(id, 15, 1) <> '8'", args: [id] });
  });
});
