/**
 * `mailroom validate` as CI runs it: real commander parsing, files and stdin, exit codes, text
 * and JSON reports, and never a password in the output.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../support/run-command.ts';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function validate(args: string[], stdin = ''): Promise<Run> {
  return runCommand(process.execPath, [cli, 'validate', ...args], { input: stdin });
}

describe('mailroom validate', () => {
  test('valid manifests exit 0; --verbose says what was skipped and which URI was checked', async () => {
    const quiet = await validate([fixture('valid.yaml')]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, '1 EmailSender valid, 2 other documents skipped\n');
    const verbose = await validate(['--verbose', fixture('valid.yaml')]);
    assert.match(verbose.stdout, /valid\.yaml:3: ConfigMap auth\/unrelated: skipped/);
    assert.match(verbose.stdout, /smtp:\/\/mailer:\*\*\*@smtp\.example\.com:587\/ \(StartTLS\)/);
  });

  test('warnings (from a base64 Secret) do not fail the check', async () => {
    const r = await validate([fixture('warnings.yaml')]);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^warning: .*warnings\.yaml:1: EmailSender relay: spec\.smtp\.uriSecretRef: .*smtps:\/\/ on port 587/m,
    );
    assert.match(r.stdout, /skip_ssl_verify=true: the server certificate is not checked/);
    assert.match(r.stdout, /1 EmailSender valid \(2 warnings\)/);
  });

  test('schema errors exit 1 with file, document index and field path', async () => {
    const r = await validate([fixture('valid.yaml'), fixture('invalid-schema.yaml')]);
    assert.equal(r.code, 1);
    const file = fixture('invalid-schema.yaml');
    for (const line of [
      `error: ${file}:2: EmailSender shop/bad: spec.from.address: must be an email address such as no-reply@example.com`,
      `error: ${file}:2: EmailSender shop/bad: spec.headers[From]: is set by the sender itself`,
      `error: ${file}:2: EmailSender shop/bad: spec.headers[X-Tag]: must not contain CR or LF (header injection)`,
      `error: ${file}:2: EmailSender shop/bad: spec.probe.interval: must be a duration such as 30s`,
      `error: ${file}:2: EmailSender shop/bad: spec.retries: unknown field`,
    ])
      assert.ok(r.stdout.includes(line), `missing: ${line}\n${r.stdout}`);
    assert.doesNotMatch(r.stdout, /shop\/good/);
    assert.match(r.stdout, /^invalid: 5 errors in 3 EmailSenders$/m);
  });

  test('URI errors from the Secret in the set, as JSON, without the password', async () => {
    const r = await validate(['--output', 'json', fixture('invalid-uri.yaml')]);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout);
    assert.equal(report.valid, false);
    assert.deepEqual(
      report.findings.map((f: { document: number; code: string; path: string }) => [
        f.document,
        f.code,
        f.path,
      ]),
      [
        [2, 'InvalidURI', 'spec.smtp.uriSecretRef'],
        [4, 'SecretKeyNotFound', 'spec.smtp.uriSecretRef.key'],
      ],
    );
    assert.match(report.findings[0].message, /the password seems to contain a raw `\/`.*%2F/);
    assert.doesNotMatch(r.stdout + r.stderr, /hunter2|s3cret/);
  });

  test('no output of any fixture ever holds a password', async () => {
    for (const name of ['valid.yaml', 'warnings.yaml', 'invalid-uri.yaml']) {
      const text = await readFile(fixture(name), 'utf8');
      assert.match(text + Buffer.from(text.match(/uri: (\S+)$/m)?.[1] ?? '', 'base64').toString(), /hunter2/);
      for (const args of [['-v'], ['-v', '-o', 'json']]) {
        const r = await validate([...args, fixture(name)]);
        assert.doesNotMatch(r.stdout + r.stderr, /hunter2|s3cret/, `${name} ${args.join(' ')}`);
      }
    }
  });

  test('"-" reads stdin; a YAML syntax error is invalid (1)', async () => {
    const ok = await validate(['-'], await readFile(fixture('valid.yaml'), 'utf8'));
    assert.equal(ok.code, 0);
    const broken = await validate(['-'], 'kind: EmailSender\nmetadata: { name: [\n');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /^error: <stdin>:1: /m);
  });

  test('usage and I/O errors exit 2', async () => {
    const missing = await validate([fixture('no-such-file.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*no-such-file\.yaml: no such file/);
    assert.equal((await validate([])).code, 2);
    assert.equal((await validate(['--bogus', fixture('valid.yaml')])).code, 2);
    assert.equal((await validate(['--output', 'xml', fixture('valid.yaml')])).code, 2);
    assert.equal((await validate(['--help'])).code, 0);
  });
});
