import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { redactUris } from '../runtime/redact.ts';
import { formatSmtpUri, InvalidUriError, parseSmtpUri, redactedUri, type SmtpEndpoint } from './uri.ts';

describe('parseSmtpUri: the six mechanisms', () => {
  const table: Array<[string, Partial<SmtpEndpoint>]> = [
    ['smtp://user:pass@smtp.example.com:587/', { scheme: 'smtp', port: 587, security: 'StartTLS' }],
    ['smtp://user:pass@smtp.example.com:587/?skip_ssl_verify=true', { security: 'StartTLSInsecure' }],
    ['smtp://user:pass@smtp.example.com:25/?disable_starttls=true', { port: 25, security: 'Plaintext' }],
    ['smtps://user:pass@smtp.example.com:465/', { scheme: 'smtps', port: 465, security: 'ImplicitTLS' }],
    ['smtps://user:pass@smtp.example.com/?skip_ssl_verify=1', { port: 465, security: 'ImplicitTLSInsecure' }],
    [
      'smtps://user:pass@10.0.0.7:1234/?server_name=mail.example.com',
      { host: '10.0.0.7', port: 1234, security: 'ImplicitTLS', serverName: 'mail.example.com' },
    ],
  ];
  for (const [uri, want] of table) {
    it(`parses ${uri.replace(/:pass@/, ':***@')}`, () => {
      const { endpoint } = parseSmtpUri(uri);
      assert.deepEqual({ ...endpoint, ...want }, endpoint);
      assert.equal(endpoint.username, 'user');
      assert.equal(endpoint.password, 'pass');
    });
  }

  it('defaults the port by scheme and honours server_name with STARTTLS', () => {
    assert.equal(parseSmtpUri('smtp://h.example').endpoint.port, 587);
    assert.equal(parseSmtpUri('smtps://h.example').endpoint.port, 465);
    const e = parseSmtpUri('smtp://127.0.0.1:2525/?server_name=Mail.Example.com').endpoint;
    assert.equal(e.serverName, 'mail.example.com');
    assert.equal(e.security, 'StartTLS');
  });

  it('percent-decodes user and password and accepts IPv6 hosts', () => {
    const e = parseSmtpUri('smtp://postmaster%40mg.example.com:p%2Fa%3Fs%23s%40@[::1]:2525').endpoint;
    assert.equal(e.username, 'postmaster@mg.example.com');
    assert.equal(e.password, 'p/a?s#s@');
    assert.equal(e.host, '::1');
    assert.equal(formatSmtpUri(e).startsWith('smtp://postmaster%40mg.example.com:'), true);
    assert.match(redactedUri(e), /^smtp:\/\/postmaster%40mg\.example\.com:\*\*\*@\[::1\]:2525\/$/);
  });

  it('trims the trailing newline a Secret file often carries', () => {
    assert.equal(parseSmtpUri('smtp://h.example:25/?disable_starttls=true\n').endpoint.security, 'Plaintext');
  });
});

describe('parseSmtpUri: rejections name the part and the fix', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['http://h.example/', 'scheme', /unknown scheme "http".*smtp:\/\/.*smtps:\/\//],
    ['smtpx://h.example/', 'scheme', /unknown scheme of the URI/],
    ['h.example:587', 'scheme', /must start with smtp:\/\//],
    [
      'smtp://user:pa/ss@h.example:587/',
      'password',
      /password seems to contain a raw `\/` \(its 3rd character\).*`\/` as %2F/,
    ],
    ['smtp://user:pa?ss@h.example:587/', 'password', /raw `\?`.*%3F/],
    ['smtp://user:pa#ss@h.example:587/', 'password', /raw `#`.*%23/],
    ['smtp://user:pa@ss@h.example:587/', 'password', /raw `@`.*%40/],
    [
      'smtp://user:p/a@s?s@h.example:587/',
      'password',
      /raw `\/` \(its 2nd character\), a raw `@` \(its 4th character\) and a raw `\?`.*%2F, `@` as %40 and `\?` as %3F/,
    ],
    ['smtp://me@corp.example:pw@h.example/', 'user', /user name seems to contain a raw `@`.*%40/],
    [
      'smtp://user:p%zzw@h.example/',
      'password',
      /"%" not followed by two hex digits \(its 2nd character\).*%25/,
    ],
    ['smtp://user:pw%@h.example/', 'password', /"%" not followed by two hex digits/],
    ['smtp://user:p%C3%28w@h.example/', 'password', /do not decode to UTF-8/],
    ['smtp://user:pass-no-at.example:587/', 'port', /not a number.*a letter \(its 1st character\).*"@"/],
    [
      'smtp://h.example/?foo=1',
      'query',
      /1st query parameter is not one Mailroom knows: known parameters are skip_ssl_verify, disable_starttls, server_name/,
    ],
    ['smtp://h.example/?Skip_SSL_Verify=1', 'query', /lower case: write skip_ssl_verify/],
    [
      'smtp://h.example/?skip_ssl_verify=yes',
      'query.skip_ssl_verify',
      /not a boolean: use true, false, 1 or 0/,
    ],
    ['smtp://h.example/?disable_starttls', 'query.disable_starttls', /has no value/],
    ['smtp://h.example/?disable_starttls=1&disable_starttls=0', 'query.disable_starttls', /given twice/],
    ['smtp://h.example:0/', 'port', /1 to 65535/],
    ['smtp://h.example:70000/', 'port', /1 to 65535/],
    ['smtp://h.example:abc/', 'port', /1 to 65535/],
    ['smtp://h.example:/', 'port', /empty/],
    ['smtp://:pw@h.example/', 'user', /user name is empty/],
    ['smtp://user@h.example/', 'password', /without a password/],
    ['smtp:///', 'host', /host is empty/],
    ['smtp://user:pw@/', 'host', /host is empty/],
    ['smtp://h_x!.example/', 'host', /a punctuation character \(its 4th character\)/],
    ['smtp://hé.example/', 'host', /a non-ASCII character.*xn--/],
    ['smtp://[fe80::zz]/', 'host', /in brackets is not an IPv6/],
    ['smtp://h.example/qxpath', 'path', /path of 7 characters.*only "\/"/],
    ['smtp://h.example/#qzv', 'fragment', /#fragment/],
    ['smtps://h.example/?disable_starttls=true', 'query.disable_starttls', /conflicts with smtps/],
    ['smtp://h.example/?disable_starttls=true&skip_ssl_verify=true', 'query.skip_ssl_verify', /conflicts/],
    ['smtp://h.example/?disable_starttls=true&server_name=a.example', 'query.server_name', /conflicts/],
    ['smtp://h.example/?server_name=bad name', 'query.server_name', /DNS name/],
    ['', 'uri', /empty/],
  ];
  for (const [uri, field, message] of cases) {
    it(`refuses ${JSON.stringify(uri)} at ${field}`, () => {
      assert.throws(
        () => parseSmtpUri(uri),
        (err: unknown) => {
          assert.ok(err instanceof InvalidUriError, `got ${String(err)}`);
          assert.equal(err.reason, 'InvalidURI');
          assert.equal(err.field, field);
          assert.match(err.message, message);
          // No text of the URI comes back, beyond a named delimiter or a known parameter.
          for (const word of [
            'pa/ss',
            'pass-no',
            'corp',
            'zzw',
            'foo',
            'yes',
            'abc',
            'qxpath',
            'qzv',
            'h_x',
            'hé',
            'fe80',
            'Skip_SSL',
            'smtpx',
          ])
            assert.equal(err.message.includes(word), false, `${err.message} quotes ${word}`);
          return true;
        },
      );
    });
  }
});

describe('parseSmtpUri: warnings', () => {
  const codes = (uri: string) => parseSmtpUri(uri).warnings.map((w) => w.code);
  it('names the likely port mistakes and weakened settings', () => {
    assert.deepEqual(codes('smtps://h.example:587/'), ['ImplicitTLSOnSubmissionPort']);
    assert.deepEqual(codes('smtp://h.example:465/'), ['StartTLSOnImplicitTLSPort']);
    assert.deepEqual(codes('smtp://u:p@h.example/?disable_starttls=true'), [
      'Cleartext',
      'CredentialsInCleartext',
    ]);
    assert.deepEqual(codes('smtp://h.example/?skip_ssl_verify=true'), ['CertificateNotVerified']);
    assert.deepEqual(codes('smtp://h.example/'), []);
  });
});

// Printable text, including every URI delimiter, for user names and passwords.
const credential = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => !/[\s]/.test(s));
const hostArb = fc.oneof(
  fc.domain().map((d) => d.toLowerCase()),
  fc.ipV4(),
  fc.constant('::1'),
);
const endpointArb: fc.Arbitrary<SmtpEndpoint> = fc
  .record({
    scheme: fc.constantFrom('smtp' as const, 'smtps' as const),
    host: hostArb,
    port: fc.integer({ min: 1, max: 65535 }),
    insecure: fc.boolean(),
    plain: fc.boolean(),
    serverName: fc.option(
      fc.domain().map((d) => d.toLowerCase()),
      { nil: undefined },
    ),
    creds: fc.option(fc.tuple(credential, credential), { nil: undefined }),
  })
  .map(({ scheme, host, port, insecure, plain, serverName, creds }) => {
    const isPlain = scheme === 'smtp' && plain;
    const security =
      scheme === 'smtps'
        ? insecure
          ? 'ImplicitTLSInsecure'
          : 'ImplicitTLS'
        : isPlain
          ? 'Plaintext'
          : insecure
            ? 'StartTLSInsecure'
            : 'StartTLS';
    const e: SmtpEndpoint = { scheme, host, port, security };
    if (serverName !== undefined && !isPlain) e.serverName = serverName;
    if (creds) [e.username, e.password] = creds;
    return e;
  });

describe('parseSmtpUri: properties', () => {
  it('parse ∘ format is the identity', () => {
    fc.assert(
      fc.property(endpointArb, (e) => {
        assert.deepEqual(parseSmtpUri(formatSmtpUri(e)).endpoint, e);
      }),
      { numRuns: 500 },
    );
  });

  it('throws nothing but InvalidUriError on any input', () => {
    const arbitraryText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc
        .tuple(
          fc.constantFrom('smtp://', 'smtps://', 'SMTP://'),
          fc.string({ unit: 'binary', maxLength: 60 }),
        )
        .map(([a, b]) => a + b),
    );
    fc.assert(
      fc.property(arbitraryText, (s) => {
        try {
          parseSmtpUri(s);
        } catch (err) {
          assert.ok(
            err instanceof InvalidUriError,
            `non-validation error for ${JSON.stringify(s)}: ${String(err)}`,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('no password survives redaction, in a formatted URI or in free text', () => {
    fc.assert(
      fc.property(endpointArb, fc.string({ maxLength: 10 }), (e, prefix) => {
        fc.pre(e.password !== undefined && e.password.length >= 3);
        const secret = e.password!;
        fc.pre(!formatSmtpUri({ ...e, password: '' }).includes(secret) && !e.username!.includes(secret));
        fc.pre(!prefix.includes(secret) && !secret.includes('***'));
        assert.equal(redactedUri(e).includes(secret), false);
        const raw = formatSmtpUri(e);
        const text = `${prefix} ${raw} failed`;
        const red = redactUris(text);
        assert.equal(red.includes(encodeURIComponent(secret)), false, red);
        // A password typed without escaping is still caught.
        const typed = `${e.scheme}://${encodeURIComponent(e.username!)}:${secret}@${e.host}:${e.port}/`;
        fc.pre(!/[\s'"<>]/.test(secret));
        assert.equal(redactUris(typed).includes(secret), false, redactUris(typed));
      }),
      { numRuns: 500 },
    );
  });

  it('no 6-character window of a password, raw or encoded, is in any error or redacted URI', () => {
    // Printable ASCII (space, quotes and every delimiter included) and unicode.
    const passwordArb = fc.string({
      unit: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
      ),
      minLength: 6,
      maxLength: 40,
    });
    const windows = (secret: string) => {
      const cps = [...secret];
      return cps.flatMap((_, i) => (i + 6 <= cps.length ? [cps.slice(i, i + 6).join('')] : []));
    };
    const query = fc.constantFrom('', '?skip_ssl_verify=true', '?server_name=mail.example.com', '?tls=1');
    fc.assert(
      fc.property(passwordArb, fc.boolean(), query, (pw, encode, q) => {
        // A window the URI holds without the password could not tell a leak from the rest.
        fc.pre(windows(pw).every((w) => !`smtp://mailer:***@smtp.example.com:587/${q}`.includes(w)));
        const uri = `smtp://mailer:${encode ? encodeURIComponent(pw) : pw}@smtp.example.com:587/${q}`;
        let out: string;
        try {
          const parsed = parseSmtpUri(uri);
          out = [redactedUri(parsed.endpoint), ...parsed.warnings.map((w) => w.message)].join('\n');
        } catch (err) {
          assert.ok(err instanceof InvalidUriError);
          out = `${err.field}: ${err.message}`;
        }
        const leaked = windows(pw).filter((w) => out.includes(w));
        assert.deepEqual(leaked, [], out);
      }),
      { numRuns: 5000 },
    );
  });
});
