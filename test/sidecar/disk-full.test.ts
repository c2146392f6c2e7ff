/**
 * A full disk, for real: the queue lives on a 32 MiB tmpfs this test mounts (it runs as root), the
 * quota is set far above it, and the upstream is down, so accepted mail piles up until SQLite gets
 * ENOSPC (SQLITE_FULL). From then on new mail is refused with "try later" (HTTP 507 + Retry-After,
 * SMTP 452 4.3.1) and the process stays up; once the upstream returns, everything accepted is
 * delivered (the spare file makes room for the state changes), the freed space goes back to the
 * filesystem, and acceptance resumes by itself.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/constants.ts';
import { freePort, spawnSidecar } from '../support/sidecar-harness.ts';
import { smtpSession } from '../support/sidecar-smtp.ts';
import { startUpstream, waitFor } from '../support/sidecar-upstream.ts';
import { mountTmpfs } from '../support/tmpfs.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

it('refuses new mail on a full disk, delivers what it accepted, and resumes by itself', {
  timeout: 120_000,
}, async (t) => {
  const { dir: mnt, remove } = mountTmpfs('32m');
  cleanups.push(remove);

  const port = await freePort();
  const sc = await spawnSidecar(
    [
      '--data-dir',
      join(mnt, 'queue'),
      '--uri',
      `smtp://127.0.0.1:${port}/?disable_starttls=true`,
      '--from',
      'no-reply@example.com',
      '--max-queue-bytes',
      '1GB',
      '--retry-base',
      '300ms',
      '--max-backoff',
      '1s',
      '--max-attempts',
      '1000',
    ],
    { NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
  );
  cleanups.push(() => sc.kill('SIGKILL'));

  const accepted = new Set<string>();
  const post = (i: number) =>
    fetch(`http://127.0.0.1:${sc.httpPort}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        to: `u${i}@example.org`,
        subject: `fill ${i}`,
        text: `${i} `.padEnd(512 * 1024, 'z'),
      }),
    });
  let full: Response | undefined;
  for (let i = 0; i < 200 && !full; i++) {
    const res = await post(i);
    if (res.status === 202) accepted.add(`fill ${i}`);
    else full = res;
    await res.text();
  }
  assert.ok(full, 'the disk filled up');
  assert.equal(full.status, 507);
  assert.ok(Number(full.headers.get('retry-after')) > 0, 'Retry-After');
  assert.ok(accepted.size >= 20, `${accepted.size} messages accepted before the disk filled`);
  // The SMTP door says "try later" at MAIL FROM.
  const smtp = await smtpSession(sc.smtpPort, ['EHLO t.example', 'MAIL FROM:<a@example.org>']);
  assert.match(smtp.at(-1)!, /^452 4\.3\.1 the disk of the queue is full/);
  assert.equal(sc.child.exitCode, null, 'still running on a full disk');

  const upstream = await startUpstream({ port });
  cleanups.push(() => upstream.close());
  await waitFor(
    () => {
      const got = new Set(upstream.received.map((m) => m.headers.get('subject')));
      return [...accepted].every((s) => got.has(s));
    },
    60_000,
    'every accepted message delivered',
  );
  const resumed = await waitFor(
    async () => {
      const res = await post(9999);
      await res.text();
      return res.status === 202;
    },
    30_000,
    'acceptance to resume',
  );
  assert.ok(resumed);
  const log = sc.output.join('');
  assert.match(log, /the queue disk is full: refusing new mail/);
  assert.match(log, /the queue disk has room again/);
  t.diagnostic(`${accepted.size} accepted before the disk filled; all delivered; acceptance resumed`);
});
