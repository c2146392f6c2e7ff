import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideOutcome, type OutcomePolicy, type SendResult } from './outcome.ts';
import type { ClaimedMessage } from './types.ts';

const claimed = (attempts: number, addresses: string[], delivered = 0): ClaimedMessage => ({
  seq: 1,
  id: 'id',
  kind: 'json',
  size: 10,
  pending: addresses.map((address, n) => ({ n, address })),
  delivered,
  attempts,
  createdAt: 0,
});
const policy: OutcomePolicy = {
  maxAttempts: 3,
  backoffMs: () => 5000,
  now: 1000,
  configRevision: 'r',
  secrets: ['s3cret'],
};
const at = { at: '2026-01-01T00:00:00.000Z', durationMs: 1 };
const rcptError = (recipient: string, responseCode: number, response: string) => ({
  recipient,
  responseCode,
  response,
});
const decide = (m: ClaimedMessage, r: SendResult | undefined, local?: Map<number, string>) =>
  decideOutcome(
    m,
    m.pending.map((p) => p.address),
    r,
    at,
    policy,
    local,
  );

describe('decideOutcome', () => {
  const cases: Array<[string, ClaimedMessage, SendResult, string, string[]]> = [
    [
      'all taken',
      claimed(1, ['a', 'b']),
      { ok: true, response: '250 ok', rejectedErrors: [] },
      'sent',
      ['sent', 'sent'],
    ],
    [
      'one greylisted at RCPT: the message waits for it',
      claimed(1, ['a', 'b']),
      { ok: true, response: '250 ok', rejectedErrors: [rcptError('b', 451, '451 4.7.1 greylisted')] },
      'deferred',
      ['sent', 'pending'],
    ],
    [
      'one refused for good: sent, that one abandoned',
      claimed(1, ['a', 'b']),
      { ok: true, response: '250 ok', rejectedErrors: [rcptError('b', 550, '550 no such user')] },
      'sent',
      ['sent', 'abandoned'],
    ],
    [
      'all refused at RCPT, one only for now',
      claimed(1, ['a', 'b']),
      {
        ok: false,
        error: {
          code: 'EENVELOPE',
          responseCode: 451,
          rejectedErrors: [rcptError('a', 550, '550 no'), rcptError('b', 452, '452 too many recipients')],
        },
      },
      'deferred',
      ['abandoned', 'pending'],
    ],
    [
      'DATA refused with 554: every pending recipient abandoned',
      claimed(1, ['a', 'b']),
      { ok: false, error: { responseCode: 554, response: '554 spam' } },
      'abandoned',
      ['abandoned', 'abandoned'],
    ],
    [
      'connection refused: every pending recipient retried',
      claimed(1, ['a']),
      { ok: false, error: { code: 'ECONNECTION', message: 'connect ECONNREFUSED' } },
      'deferred',
      ['pending'],
    ],
    [
      'attempts spent while one is pending: it is abandoned, the message sent (another was delivered)',
      claimed(3, ['b'], 1),
      { ok: true, response: '250 ok', rejectedErrors: [rcptError('b', 451, '451 greylisted')] },
      'sent',
      ['abandoned'],
    ],
  ];
  for (const [what, m, result, state, recipients] of cases) {
    it(what, () => {
      const o = decide(m, result);
      assert.equal(o.state, state);
      assert.deepEqual(
        o.recipients.map((r) => r.state),
        recipients,
      );
    });
  }

  it('says why a deferred message waits and which recipients', () => {
    const o = decide(claimed(1, ['a', 'b']), {
      ok: true,
      response: '250 ok',
      rejectedErrors: [rcptError('b', 451, '451 greylisted')],
    });
    assert.equal(o.state, 'deferred');
    assert.equal(o.state === 'deferred' && o.nextAttemptAt, 6000);
    assert.match(o.reason ?? '', /attempt 1 of 3 failed for 1 of 2 recipients; retrying in 5s/);
  });

  it('abandons a recipient refused before sending, with the reason, and sends the rest', () => {
    const o = decide(
      claimed(1, ['josé@x', 'a@x']),
      { ok: true, response: '250 ok', rejectedErrors: [] },
      new Map([[0, 'needs SMTPUTF8']]),
    );
    assert.deepEqual(
      o.recipients.map((r) => [r.state, r.reply]),
      [
        ['abandoned', 'needs SMTPUTF8'],
        ['sent', '250 ok'],
      ],
    );
  });

  it('removes credentials from every recorded reply', () => {
    const o = decide(claimed(1, ['a']), {
      ok: true,
      response: '250 ok',
      rejectedErrors: [rcptError('a', 550, '550 bad s3cret')],
    });
    assert.ok(!JSON.stringify(o).includes('s3cret'));
  });
});
