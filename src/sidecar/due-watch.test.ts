import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DueWatch } from './due-watch.ts';

describe('DueWatch', () => {
  it('knows nothing is due only after a claim that came back short, until mail moves', () => {
    const w = new DueWatch();
    assert.equal(w.nothingDue(1000), false, 'at start the queue may hold due mail');
    const mark = w.mark();
    w.claimed(mark, false, undefined);
    assert.equal(w.nothingDue(1000), false, 'a full claim may have left due mail behind');
    w.claimed(w.mark(), true, undefined);
    assert.equal(w.nothingDue(1000), true);
    assert.equal(w.next, undefined, 'nothing waits at all');
    w.moved();
    assert.equal(w.nothingDue(1000), false);
  });

  it('ignores a claim asked for before mail moved, and knows when the next message falls due', () => {
    const w = new DueWatch();
    const stale = w.mark();
    w.moved();
    w.claimed(stale, true, undefined);
    assert.equal(w.nothingDue(1000), false, 'its query may have run before that mail was stored');
    w.claimed(w.mark(), true, 5000);
    assert.equal(w.nothingDue(4999), true);
    assert.equal(w.nothingDue(5000), false);
    assert.equal(w.next, 5000);
  });
});
