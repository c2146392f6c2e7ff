/**
 * Real SMTP servers for tests, on loopback and free ports: `smtp-server` configured for each security
 * mode and failure, and raw TCP peers that misbehave the ways real ones do.
 */
import { once } from 'node:events';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { type CertificateAuthority, createCA, type KeyPair } from '../../src/runtime/pki.ts';

export interface TestPki {
  ca: CertificateAuthority;
  /** localhost + 127.0.0.1, valid. */
  valid: KeyPair;
  /** Expired yesterday. */
  expired: KeyPair;
  /** Valid, but only for mail.other.test. */
  wrongName: KeyPair;
  /** Valid, expiring in 5 days. */
  expiringSoon: KeyPair;
}

const DAY = 86_400_000;

/** A test CA and the leaf certificates the probe tests need. */
export async function createTestPki(): Promise<TestPki> {
  const ca = await createCA('Mailroom Test CA');
  const names = ['localhost', '127.0.0.1'];
  return {
    ca,
    valid: await ca.issue({ names }),
    expired: await ca.issue({
      names,
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    }),
    wrongName: await ca.issue({ names: ['mail.other.test'] }),
    expiringSoon: await ca.issue({ names, notAfter: new Date(Date.now() + 5 * DAY) }),
  };
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  data: string;
  user?: string;
}

export interface TestSmtpServer {
  host: '127.0.0.1';
  port: number;
  received: ReceivedMessage[];
  /** AUTH attempts seen, with the user names tried. */
  authAttempts: string[];
  close(): Promise<void>;
}

export interface TestSmtpServerOptions {
  /** `starttls` (default): plain greeting, STARTTLS offered when a certificate is given. */
  mode?: 'starttls' | 'implicit' | 'plain';
  tls?: KeyPair;
  /** Accepted credentials; when absent AUTH is not offered. */
  auth?: { user: string; pass: string };
  authMethods?: string[];
  /** Addresses refused at MAIL FROM with 553. */
  rejectSenders?: string[];
  /** Reply for every DATA: e.g. `{ code: 451 }` or `{ code: 550 }`. */
  dataReply?: (msg: ReceivedMessage, n: number) => { code: number; message: string } | undefined;
  port?: number;
  extra?: Partial<SMTPServerOptions>;
}

/** Starts an `smtp-server` on 127.0.0.1 with the given behaviour. */
export async function startSmtpServer(opts: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMessage[] = [];
  const authAttempts: string[] = [];
  const mode = opts.mode ?? 'starttls';
  const server = new SMTPServer({
    secure: mode === 'implicit',
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    hideSTARTTLS: mode !== 'starttls' || !opts.tls,
    disabledCommands: [
      ...(mode === 'plain' || !opts.tls ? ['STARTTLS'] : []),
      ...(opts.auth ? [] : ['AUTH']),
    ],
    authOptional: !opts.auth,
    allowInsecureAuth: mode === 'plain',
    authMethods: opts.authMethods ?? ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    logger: false,
    // smtp-server looks up the client's name in DNS by default: keep tests off the network (and fast).
    disableReverseLookup: true,
    banner: 'Mailroom test server',
    size: 20 * 1024 * 1024,
    onAuth(auth, _session, cb) {
      authAttempts.push(auth.username ?? '');
      const ok =
        auth.username === opts.auth?.user &&
        (auth.method === 'CRAM-MD5'
          ? auth.validatePassword(opts.auth?.pass ?? '')
          : auth.password === opts.auth?.pass);
      cb(
        ok ? null : Object.assign(new Error('Invalid username or password'), { responseCode: 535 }),
        ok ? { user: auth.username } : undefined,
      );
    },
    onMailFrom(address, _session, cb) {
      if (opts.rejectSenders?.includes(address.address)) {
        cb(Object.assign(new Error(`Sender <${address.address}> not allowed`), { responseCode: 553 }));
        return;
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const msg: ReceivedMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
        };
        const verdict = opts.dataReply?.(msg, received.length);
        if (verdict && verdict.code >= 400) {
          cb(Object.assign(new Error(verdict.message), { responseCode: verdict.code }));
          return;
        }
        received.push(msg);
        cb();
      });
    },
    ...opts.extra,
  });
  server.on('error', () => {});
  server.listen(opts.port ?? 0, '127.0.0.1');
  await once(server.server, 'listening');
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('smtp-server did not bind');
  return {
    host: '127.0.0.1',
    port: address.port,
    received,
    authAttempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type Misbehaviour =
  | 'silent'
  | 'close-after-greeting'
  | 'garbage-greeting'
  | 'reject-greeting'
  | 'close-at-once';

/** A TCP peer on 127.0.0.1 that misbehaves: the faults a probe must name. */
export async function startMisbehavingPeer(
  kind: Misbehaviour,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    switch (kind) {
      case 'silent':
        break;
      case 'close-at-once':
        socket.destroy();
        break;
      case 'close-after-greeting':
        socket.write('220 peer ESMTP ready\r\n');
        socket.once('data', () => socket.destroy());
        break;
      case 'garbage-greeting':
        socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
        break;
      case 'reject-greeting':
        socket.write('554 5.7.1 peer: no SMTP service here for you\r\n');
        break;
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('peer did not bind');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}
