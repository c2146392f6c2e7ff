import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalJson } from '../runtime/canonical-json.ts';
import { API_VERSION } from './emailsender.ts';
import {
  configRevision,
  issueMessage,
  RENDERED_CONFIG_KIND,
  type RenderedConfig,
  renderedConfigSchema,
} from './rendered-config.ts';

const SECRET_UID = '6f1c2b9e-3a4d-4e5f-8a7b-0c1d2e3f4a5b';
const SENDER_UID = 'uid-identity';

function body(password: string): Omit<RenderedConfig, 'revision'> {
  return {
    apiVersion: API_VERSION,
    kind: RENDERED_CONFIG_KIND,
    sender: { namespace: 'mail', name: 'identity' },
    smtp: { uri: `smtp://mailer:${password}@smtp.example.com:587/` },
    from: { address: 'no-reply@example.com' },
    headers: {},
    delivery: { maxAttempts: 6, maxBackoffMs: 3_600_000, ratePerSecond: 0 },
  };
}

/** The canonical JSON the revision covers, as anyone who read the code could build it. */
const canonical = (b: object) => canonicalJson(b);

describe('configRevision', () => {
  test('changes with a password-only rotation, and is stable for one content and key', () => {
    const a = configRevision(body('hunter2'), SECRET_UID);
    assert.match(a, /^[0-9a-f]{16}$/);
    assert.equal(configRevision(body('hunter2'), SECRET_UID), a);
    assert.notEqual(configRevision(body('hunter3'), SECRET_UID), a);
    assert.notEqual(configRevision(body('hunter2'), `${SECRET_UID}x`), a, 'a recreated Secret republishes');
  });

  test('cannot be recomputed from what readers of EmailSenders see plus a password guess', () => {
    // A reader of the status knows the revision and every non-secret field (spec, status, sender
    // uid); with the old unkeyed hash a guessed password could be checked offline.
    const revision = configRevision(body('hunter2'), SECRET_UID);
    const guess = canonical(body('hunter2'));
    const attempts = [
      createHash('sha256').update(guess).digest('hex'),
      createHmac('sha256', '').update(guess).digest('hex'),
      createHmac('sha256', SENDER_UID).update(guess).digest('hex'),
      createHmac('sha256', 'mail/identity').update(guess).digest('hex'),
    ];
    for (const attempt of attempts) assert.notEqual(attempt.slice(0, 16), revision);
    // The key is what makes it match: only with the Secret's uid does the guess verify.
    assert.equal(createHmac('sha256', SECRET_UID).update(guess).digest('hex').slice(0, 16), revision);
  });

  test('refuses an empty key (that would be an unkeyed, guessable hash)', () => {
    assert.throws(() => configRevision(body('hunter2'), ''), /needs a key/);
  });
});

describe('renderedConfigSchema: parsing it parses the Secrets once', () => {
  const doc = (over: Partial<RenderedConfig['smtp']> = {}, extra: object = {}) => ({
    ...body('hunter2'),
    smtp: { ...body('hunter2').smtp, ...over },
    revision: 'r1',
    ...extra,
  });

  test('the URI comes out parsed: its text, endpoint and warnings', () => {
    const loaded = renderedConfigSchema.parse(doc());
    assert.equal(loaded.smtp.uri.text, 'smtp://mailer:hunter2@smtp.example.com:587/');
    assert.equal(loaded.smtp.uri.endpoint.password, 'hunter2');
    assert.equal(loaded.smtp.uri.endpoint.security, 'StartTLS');
    assert.deepEqual(loaded.smtp.uri.warnings, []);
  });

  test('a bad URI, CA bundle, DKIM key or header is refused at its path, quoting no secret', () => {
    const cases: Array<[object, string, RegExp]> = [
      [doc({ uri: 'smtp://mailer:Secr3t/Pa55@smtp.example.com/' }), 'smtp.uri', /raw `\/`.*%2F/],
      [doc({ ca: 'not a certificate' }), 'smtp.ca', /holds no PEM certificate/],
      [
        doc({}, { dkim: { selector: 's1', domain: 'example.com', privateKey: 'garbage-key-text' } }),
        'dkim.privateKey',
        /not a usable PEM key/,
      ],
      [doc({}, { headers: { 'Bad Name': 'x' } }), 'headers.Bad Name', /header field name/],
      [doc({}, { headers: { From: 'x' } }), 'headers.From', /reserved/],
      [doc({}, { headers: { 'X-A': 'a\r\nBcc: b' } }), 'headers.X-A', /CR or LF/],
    ];
    for (const [input, path, message] of cases) {
      const r = renderedConfigSchema.safeParse(input);
      assert.equal(r.success, false, path);
      const issue = r.error!.issues[0]!;
      assert.equal(issue.path.join('.'), path);
      assert.match(issueMessage(issue), message);
      for (const secret of ['Secr3t', 'Pa55', 'garbage-key', 'not a certificate'])
        assert.equal(issueMessage(issue).includes(secret), false, issueMessage(issue));
    }
  });
});
