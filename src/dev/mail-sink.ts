/**
 * The demo's local mail sink: a real SMTP server (smtp-server) with STARTTLS under a CA made at
 * start and AUTH, so the demo's working sender uses the recommended mechanism (STARTTLS, verified).
 * Every accepted message is written as an `.eml` file a person can open.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { createCA } from '../runtime/pki.ts';

export interface MailSink {
  host: 'localhost';
  port: number;
  user: string;
  password: string;
  /** PEM of the CA that signed the sink's certificate. */
  caPem: string;
  /** Folder of received `.eml` files. */
  maildir: string;
  /** Envelope and subject of every message received so far. */
  received: Array<{ from: string; to: string[]; subject: string; file: string }>;
  close(): Promise<void>;
}

/** Starts the sink on 127.0.0.1 (port 0 = a free one). */
export async function startMailSink(opts: { maildir: string; port?: number }): Promise<MailSink> {
  await mkdir(opts.maildir, { recursive: true });
  const ca = await createCA('Mailroom Demo CA');
  const tls = await ca.issue({ names: ['localhost', '127.0.0.1'] });
  const user = 'demo';
  const password = `demo-${randomBytes(9).toString('base64url')}`;
  const received: MailSink['received'] = [];
  const server = new SMTPServer({
    key: tls.key,
    cert: tls.cert,
    banner: 'Mailroom demo mail sink',
    logger: false,
    disableReverseLookup: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, cb) {
      if (auth.username === user && auth.password === password) cb(null, { user });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const file = join(opts.maildir, `${Date.now()}-${received.length + 1}.eml`);
        const subject = /^Subject: (.*)$/im.exec(raw.toString('utf8'))?.[1]?.trim() ?? '';
        writeFile(file, raw).then(
          () => {
            received.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              subject,
              file,
            });
            cb();
          },
          (err: Error) => cb(Object.assign(err, { responseCode: 451 })),
        );
      });
    },
  });
  server.on('error', () => {});
  server.listen(opts.port ?? 0, '127.0.0.1');
  await once(server.server, 'listening');
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('the mail sink did not bind');
  return {
    host: 'localhost',
    port: address.port,
    user,
    password,
    caPem: ca.cert,
    maildir: opts.maildir,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
