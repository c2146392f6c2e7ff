import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs, classify, secretsOf } from './retry.ts';

describe('classify', () => {
  it('abandons a 5xx reply to the message', () => {
    assert.deepEqual(classify({ code: 'EENVELOPE', responseCode: 550, response: '550 no such user' }, []), {
      retry: false,
      code: 550,
      reply: '550 no such user',
    });
  });
  it('retries 4xx, network and login failures', () => {
    assert.equal(classify({ code: 'EMESSAGE', responseCode: 451, response: '451 later' }, []).retry, true);
    assert.equal(classify({ code: 'ECONNECTION', message: 'connect ECONNREFUSED' }, []).retry, true);
    assert.equal(classify({ code: 'EAUTH', responseCode: 535, response: '535 bad login' }, []).retry, true);
  });
  it('removes the password in every echoed form', () => {
    const v = classify(
      { responseCode: 554, response: `554 pw s3cret! ${Buffer.from('\0u\0s3cret!').toString('base64')}` },
      secretsOf('u', 's3cret!'),
    );
    assert.equal(v.reply, '554 pw *** ***');
  });
});

describe('backoffMs', () => {
  it('doubles, caps at the maximum, and jitters within the upper half', () => {
    const p = { baseMs: 1000, maxMs: 10_000 };
    assert.equal(
      backoffMs(1, p, () => 0),
      500,
    );
    assert.equal(
      backoffMs(1, p, () => 1),
      1000,
    );
    assert.equal(
      backoffMs(3, p, () => 1),
      4000,
    );
    assert.equal(
      backoffMs(30, p, () => 1),
      10_000,
    );
    assert.equal(
      backoffMs(30, p, () => 0),
      5000,
    );
  });
});
