/**
 * Issue 11, "a port scanner with a display": an EmailSender that points the controller at a port that
 * is not SMTP gets a status that names the protocol, and no byte the peer sent reaches status, Events,
 * `kubectl get -o wide` or the controller's logs. Real API server, the controller as a process under
 * the RBAC of deploy/, and two peers: a scripted SSH banner and a real HTTP server.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { EmailSender } from '../../src/api/emailsender.ts';
import {
  type ControllerEnv,
  type ControllerProcess,
  eventually,
  startControllerEnv,
} from '../support/controller-env.ts';

const NS = 'scan';
const BANNER = 'SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5 internal-bastion.corp.example\r\n';
const HTTP_BODY = 'secret-dashboard nginx/1.27.1 build internal-web-07';
const LEAKS = ['OpenSSH', 'internal-bastion', 'Ubuntu-3ubuntu', 'secret-dashboard', 'nginx', 'internal-web'];

describe('a peer that is not SMTP, on a real API server', () => {
  let env: ControllerEnv;
  let controller: ControllerProcess;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    env = await startControllerEnv();
    const sockets = new Set<Socket>();
    const ssh = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.write(BANNER);
    });
    ssh.listen(0, '127.0.0.1');
    const http = createHttpServer((_req, res) => res.end(HTTP_BODY));
    http.listen(0, '127.0.0.1');
    await Promise.all([once(ssh, 'listening'), once(http, 'listening')]);
    closers.push(
      () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          ssh.close(() => r());
        }),
      () =>
        new Promise((r) => {
          http.closeAllConnections();
          http.close(() => r());
        }),
    );
    const port = (srv: { address(): unknown }) => (srv.address() as { port: number }).port;
    await env.kubectl('create', 'namespace', NS);
    const sender = (name: string, p: number) => `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${NS} }
stringData: { uri: "smtp://127.0.0.1:${p}/" }
---
apiVersion: mailroom.dev/v1alpha1
kind: EmailSender
metadata: { name: ${name}, namespace: ${NS} }
spec:
  smtp: { uriSecretRef: { name: ${name} } }
  from: { address: no-reply@example.com }
  probe: { interval: 10s, timeout: 3s }
`;
    await env.apply(`${sender('ssh', port(ssh))}---\n${sender('web', port(http))}`);
    controller = await env.startController();
  });

  after(async () => {
    await controller?.stop();
    for (const close of closers) await close();
    await env?.stop();
  });

  test('status names the protocol; nothing the peer sent is in status, Events, -o wide or logs', async () => {
    for (const [name, protocol] of [
      ['ssh', 'SSH'],
      ['web', 'HTTP'],
    ] as const) {
      const s = await eventually(
        async () => {
          const got = JSON.parse(
            await env.kubectl('-n', NS, 'get', 'emailsender', name, '-o', 'json'),
          ) as EmailSender;
          const ready = got.status?.conditions?.find((c) => c.type === 'Ready');
          return ready?.reason === 'UnexpectedGreeting' && got;
        },
        30_000,
        `${name} UnexpectedGreeting`,
      );
      const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
      assert.match(ready?.message ?? '', new RegExp(`speaks ${protocol}, not SMTP`));
    }
    const dump = [
      await env.kubectl('-n', NS, 'get', 'emailsenders', '-o', 'json'),
      await env.kubectl('-n', NS, 'get', 'emailsenders', '-o', 'wide'),
      await env.kubectl('-n', NS, 'get', 'events.events.k8s.io', '-o', 'json'),
      env.allLines.join('\n'),
    ].join('\n');
    for (const word of LEAKS)
      assert.equal(dump.includes(word), false, `"${word}" reached status, Events or logs`);
  });
});
