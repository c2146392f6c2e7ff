/**
 * Provider lockout (issue 11), end to end: the real controller on a real apiserver against SMTP
 * servers in this process that count the logins they see. A wrong password is tried again at the
 * probe interval, not on the 1 s, 2 s, 4 s … failure backoff, and two senders with the same
 * credentials share that; a changed Secret is tried at once; a temporary 454 keeps the backoff.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmailSender } from '../../src/api/emailsender.ts';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-servers.ts';

const NS = 'lockout';
const USER = 'mailer';
const INTERVAL_S = 10;

/** An SMTP server that refuses every login with `code` and stamps each attempt. */
async function refusingServer(code: number): Promise<TestSmtpServer & { logins: number[] }> {
  const logins: number[] = [];
  const server = await startSmtpServer({
    mode: 'plain',
    auth: { user: USER, pass: 'the-right-one' },
    extra: {
      onAuth(_auth, _session, cb) {
        logins.push(Date.now());
        cb(
          Object.assign(new Error(code >= 500 ? 'Invalid credentials' : 'Try later'), { responseCode: code }),
        );
      },
    },
  });
  return Object.assign(server, { logins });
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => (t - times[i]!) / 1000);

describe('provider lockout on a real apiserver', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  let rejecting: Awaited<ReturnType<typeof refusingServer>>;
  let busy: Awaited<ReturnType<typeof refusingServer>>;
  const uri = (port: number) => `smtp://${USER}:Wr0ng-pass%2Fx@127.0.0.1:${port}/?disable_starttls=true`;
  const secret = (name: string, u: string, label = 'a') =>
    `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name}, namespace: ${NS}, labels: { touch: ${label} } }\nstringData: { uri: ${JSON.stringify(u)} }\n`;
  const sender = (name: string, secretName: string) => `apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: ${secretName} } }
  from: { address: no-reply@example.com }
  probe: { interval: ${INTERVAL_S}s, timeout: 2s }
`;
  const get = async (name: string): Promise<EmailSender> =>
    JSON.parse(await env.kubectl('-n', NS, 'get', 'emailsender', name, '-o', 'json'));

  before(async () => {
    env = await startControllerEnv();
    rejecting = await refusingServer(535);
    busy = await refusingServer(454);
    await env.kubectl('create', 'namespace', NS);
    controller = await env.startController();
  });
  after(async () => {
    await controller?.stop();
    await rejecting?.close();
    await busy?.close();
    await env?.stop();
  });

  test('535: one login per probe interval for two senders sharing the password; 454: the short backoff', async () => {
    await env.apply(
      [
        secret('smtp-a', uri(rejecting.port)),
        secret('smtp-b', uri(rejecting.port)),
        sender('a', 'smtp-a'),
        sender('b', 'smtp-b'),
        secret('smtp-busy', uri(busy.port)),
        sender('busy', 'smtp-busy'),
      ].join('---\n'),
    );
    await eventually(() => Promise.resolve(rejecting.logins.length > 0), 20_000, 'the first login');
    // Two and a half intervals: the old backoff makes 5 logins (1 s, 2 s, 4 s, 8 s apart) here.
    await sleep(2.5 * INTERVAL_S * 1000);
    const seen = [...rejecting.logins];
    const between = gaps(seen);
    assert.ok(
      seen.length >= 2 && seen.length <= 3,
      `2 or 3 logins in 2.5 intervals, saw ${seen.length}: ${between}`,
    );
    for (const g of between) assert.ok(g >= 0.85 * INTERVAL_S, `logins ${g} s apart, not an interval`);
    for (const name of ['a', 'b']) {
      const ready = (await get(name)).status?.conditions?.find((c) => c.type === 'Ready');
      assert.equal(ready?.reason, 'AuthenticationFailed', name);
      assert.match(ready?.message ?? '', /535/);
    }
    // A temporary refusal is retried on the backoff (1 s, 2 s, 4 s … with a failure shared for 2 s,
    // so logins come about 3 s, 4 s, 8 s apart), well before the interval.
    const busyGaps = gaps(busy.logins);
    assert.ok(busy.logins.length >= 3, `454 retried on the backoff, saw ${busy.logins.length}: ${busyGaps}`);
    assert.ok(busyGaps[0]! < 0.5 * INTERVAL_S, `first retry after ${busyGaps[0]} s, not an interval`);
  });

  test('a changed Secret is tried at once, then held again', async () => {
    await sleep(1000);
    const before = rejecting.logins.length;
    const changed = Date.now();
    await env.apply(secret('smtp-a', uri(rejecting.port), 'b'));
    await eventually(
      () => Promise.resolve(rejecting.logins.length > before),
      5_000,
      'a login after the change',
    );
    assert.ok(rejecting.logins[before]! - changed < 5_000);
    await sleep(4_000);
    assert.equal(rejecting.logins.length, before + 1, 'one login for the change, no backoff after it');
  });

  test('no log line, status or event holds the password', async () => {
    const everything = [
      env.allLines.join('\n'),
      await env.kubectl('get', 'emailsenders', '-A', '-o', 'json'),
      await env.kubectl('get', 'events.events.k8s.io', '-A', '-o', 'json'),
    ].join('\n');
    for (const form of ['Wr0ng-pass', 'Wr0ng-pass%2Fx', Buffer.from('Wr0ng-pass/x').toString('base64')])
      assert.equal(everything.includes(form), false, form);
  });
});
