import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodemailerLogger, Transcript } from './transcript.ts';

const USER = 'mailer@example.test';
const PASSWORD = 'p@ss/word with space';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('Transcript', () => {
  it('masks AUTH arguments and every client line of an exchange', () => {
    const t = new Transcript([PASSWORD, USER]);
    t.client('EHLO me');
    t.client(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`, true);
    t.client('AUTH LOGIN', true);
    t.client(b64(USER), true);
    assert.deepEqual(t.lines(), ['C: EHLO me', 'C: AUTH PLAIN ***', 'C: AUTH LOGIN', 'C: ***']);
  });

  it('redacts a server that echoes the password or the AUTH PLAIN blob', () => {
    const t = new Transcript([PASSWORD, USER]);
    t.server(`535 5.7.8 bad credentials ${b64(`\0${USER}\0${PASSWORD}`)}`);
    t.server(`535 5.7.8 bad password ${PASSWORD} for ${encodeURIComponent(USER)}`);
    const out = t.lines().join('\n');
    for (const form of [PASSWORD, USER, encodeURIComponent(USER), b64(`\0${USER}\0${PASSWORD}`)])
      assert.equal(out.includes(form), false, form);
  });

  it('keeps at most 400 lines and says how many were dropped', () => {
    const t = new Transcript([]);
    for (let i = 0; i < 410; i++) t.server(`250-line ${i}`);
    const lines = t.lines();
    assert.equal(lines.length, 401);
    assert.equal(lines.at(-1), '* … 10 more lines not kept');
  });
});

describe('nodemailerLogger', () => {
  it('masks what nodemailer sends between AUTH and the last 334, whatever it logs', () => {
    const t = new Transcript([PASSWORD, USER]);
    const log = nodemailerLogger(t);
    log.debug!({ tnx: 'client' }, 'AUTH LOGIN');
    log.debug!({ tnx: 'server' }, '334 VXNlcm5hbWU6');
    log.debug!({ tnx: 'client' }, b64('someone-else'));
    log.debug!({ tnx: 'server' }, '334 UGFzc3dvcmQ6');
    log.debug!({ tnx: 'client' }, '/* secret */');
    log.debug!({ tnx: 'server' }, '235 2.7.0 ok');
    log.debug!({ tnx: 'client' }, 'MAIL FROM:<a@example.test>');
    log.info!({ tnx: 'network' }, '%s established to %s:%s', 'Connection', '127.0.0.1', 25);
    assert.deepEqual(t.lines(), [
      'C: AUTH LOGIN',
      'S: 334 VXNlcm5hbWU6',
      'C: ***',
      'S: 334 UGFzc3dvcmQ6',
      'C: ***',
      'S: 235 2.7.0 ok',
      'C: MAIL FROM:<a@example.test>',
      '* Connection established to 127.0.0.1:25',
    ]);
  });
});
