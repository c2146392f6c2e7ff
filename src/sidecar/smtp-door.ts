/**
 * The SMTP front door: unmodified apps point at `smtp://127.0.0.1:1025/?disable_starttls=true`.
 * `250` is sent only once the message is committed to the queue. No STARTTLS (the door listens on
 * loopback); AUTH is optional, and required only when `auth` is configured.
 *
 * "Try later" (`452 4.3.1`) instead of a dropped connection: at MAIL FROM when the queue is at its
 * quota or its disk is full, and at the end of DATA when the message did not fit in the memory
 * budget (its bytes are read and dropped as they come, so a refused message costs no memory) or
 * the queue could not take it. DATA is written into the queue part by part as it arrives: the door
 * holds the header block and a part or two of a message, whatever its size. More than {@link MAX_RECIPIENTS} recipients get `452 4.5.3`; an
 * address with a non-ASCII local part gets `553 5.6.7` when the upstream is known to lack SMTPUTF8.
 *
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { SMTPServer, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Logger } from '../runtime/logger.ts';
import type { ByteBudget } from './budget.ts';
import { HeaderBlock } from './header-block.ts';
import { MAX_HEAD_BYTES, MAX_RECIPIENTS, streamCost } from './limits.ts';
import { smtpServer } from './mail-libs.ts';
import { MessageRejectedError, rawSubject, splitRawMessage } from './message.ts';
import type { SidecarMetrics } from './metrics.ts';
import { asciiLocalPart, smtputf8Refusal } from './smtputf8.ts';
import { type PayloadWriter, QueueRefusedError, type QueueStore } from './store.ts';
import type { RawHead } from './types.ts';

export interface SmtpDoorOptions {
  store: QueueStore;
  logger: Logger;
  metrics?: SidecarMetrics;
  /** Largest message in bytes (announced with SIZE). */
  maxMessageBytes: number;
  /** Memory for messages being accepted. */
  budget: ByteBudget;
  /** When set, clients must log in with exactly these credentials. */
  auth?: { user: string; pass: string };
  /** Called after each committed message (wakes the delivery worker). */
  onQueued?: () => void;
  /** Whether the upstream offers SMTPUTF8 (undefined while not known): refuses what it cannot take. */
  smtputf8?: () => boolean | undefined;
}

/** An SMTP reply error for smtp-server. */
function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && process.getBuiltinModule('node:crypto').timingSafeEqual(x, y);
}

/** Idle clients still connected this long after close get `421` and are cut. */
const CLOSE_TIMEOUT_MS = 2000;

/** The SMTP door: a listening socket that hands its clients to smtp-server. */
export interface SmtpDoor {
  /** The listening server (not yet listening: `server.listen(port, host)`). */
  readonly server: Server;
  /** Stops accepting; clients still connected after 2 s get `421` and are cut. */
  close(callback: () => void): void;
}

/**
 * Creates the SMTP door. It listens with `node:net` and loads smtp-server (and the node:tls,
 * node:crypto and nodemailer helpers it requires) when its first client connects: an idle sidecar
 * holds none of it (see mail-libs.ts). Each client socket goes to smtp-server's own connection
 * handler, as if smtp-server had accepted it.
 */
export function createSmtpDoor(o: SmtpDoorOptions): SmtpDoor {
  let smtp: SMTPServer | undefined;
  const clients = new Set<Socket>();
  // Replies go out in several small writes; with Nagle on, a pipelining client waits out the peer's
  // delayed ACK (tens of ms) for each message.
  const server = createServer({ noDelay: true }, (socket) => {
    clients.add(socket);
    socket.once('close', () => clients.delete(socket));
    try {
      smtp ??= smtpDoorServer(o);
    } catch (err) {
      o.logger.error({ err }, 'the SMTP door could not start its SMTP server');
      socket.destroy();
      return;
    }
    smtp.server.emit('connection', socket);
  });
  server.on('error', (err) => o.logger.warn({ err }, 'SMTP door error'));
  return {
    server,
    close(callback) {
      // smtp-server's own close waits on its net server, which never listens here: the door does it.
      const cut = setTimeout(() => {
        for (const c of clients) c.end('421 4.3.2 Server shutting down\r\n', () => c.destroy());
      }, CLOSE_TIMEOUT_MS);
      cut.unref();
      server.close(() => {
        clearTimeout(cut);
        callback();
      });
    },
  };
}

/** The door's label on its metrics, one object (a literal per message was garbage). */
const SMTP = { door: 'smtp' } as const;

/** smtp-server, configured as the door. */
function smtpDoorServer(o: SmtpDoorOptions): SMTPServer {
  const { SMTPServer } = smtpServer();
  const reject = (reason: string) => o.metrics?.rejected.inc({ door: 'smtp', reason });
  const server = new SMTPServer({
    banner: 'Mailroom sidecar: mail is queued durably, then delivered upstream',
    disabledCommands: o.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !o.auth,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    size: o.maxMessageBytes,
    logger: false,
    // The only clients are on loopback: a reverse DNS lookup per connection only adds latency.
    disableReverseLookup: true,
    // Apps send in bursts over a few connections; the defaults would refuse the 101st parallel client.
    maxClients: 1000,
    onAuth(auth, _session, callback) {
      const ok = o.auth && same(auth.username ?? '', o.auth.user) && same(auth.password ?? '', o.auth.pass);
      if (ok) callback(null, { user: auth.username });
      else callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
    },
    onMailFrom(address, _session, callback) {
      const declared = Number(address.args && (address.args as Record<string, string>).SIZE) || 0;
      const refusal = o.store.disk.check(declared);
      if (!refusal) return callback();
      o.metrics?.refusedBusy.inc({ door: 'smtp', reason: refusal.reason });
      callback(smtpError(452, `4.3.1 ${refusal.message}`));
    },
    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        return callback(smtpError(452, `4.5.3 Too many recipients: at most ${MAX_RECIPIENTS} per message`));
      }
      if (!asciiLocalPart(address.address) && o.smtputf8?.() === false) {
        reject('SMTPUTF8Unavailable');
        return callback(smtpError(553, `5.6.7 ${smtputf8Refusal(address.address)}`));
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      receive(stream, session, callback);
    },
  });
  /**
   * DATA goes into the queue part by part as it arrives (store.begin): the door holds the header
   * block (to check it and read the Subject) and a part or two, never the whole message.
   */
  function receive(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (err?: Error | null, message?: string) => void,
  ): void {
    let writer: PayloadWriter | undefined = o.store.begin();
    const head = new HeaderBlock();
    let size = 0;
    let held = 0;
    let overBudget = false;
    let headTooBig = false;
    const release = () => {
      if (held > 0) o.budget.release(held);
      held = 0;
    };
    const giveUp = () => {
      writer?.abort();
      writer = undefined;
    };
    // What the door holds: the parts being written, and the header block while it is read.
    const reserve = (): boolean => {
      const need = streamCost(size, head.held) - held;
      if (need <= 0) return true;
      const ok = held === 0 ? o.budget.tryReserve(need) : o.budget.tryGrow(need);
      if (ok) held += need;
      return ok;
    };
    if (!reserve()) overBudget = true;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit or the budget smtp-server keeps reading (to find the end of DATA); keep nothing of it.
      if (size > o.maxMessageBytes || overBudget || !writer) return giveUp();
      if (!head.done) {
        head.add(c);
        if (head.held > MAX_HEAD_BYTES) {
          headTooBig = true;
          head.drop();
          return giveUp();
        }
      }
      if (!reserve()) {
        overBudget = true;
        head.drop();
        return giveUp();
      }
      // Two parts being written already: read more once the oldest is.
      const wait = writer.write(c);
      if (wait) {
        stream.pause();
        void wait.then(() => stream.resume());
      }
    });
    stream.on('error', (err) => {
      giveUp();
      release();
      callback(err);
    });
    stream.on('end', () => {
      if (overBudget || !writer) {
        giveUp();
        release();
        if (stream.sizeExceeded || size > o.maxMessageBytes) return tooBig();
        if (headTooBig) {
          reject('MessageTooLarge');
          return callback(smtpError(552, `5.3.4 The header block is over ${MAX_HEAD_BYTES} bytes`));
        }
        o.metrics?.refusedBusy.inc({ door: 'smtp', reason: 'MemoryBudget' });
        callback(
          smtpError(452, '4.3.1 The sidecar holds as many messages in memory as it may; try again shortly'),
        );
        return;
      }
      if (stream.sizeExceeded || size > o.maxMessageBytes) {
        giveUp();
        release();
        return tooBig();
      }
      let subject: string;
      let read: RawHead;
      try {
        const block = head.block();
        const split = splitRawMessage(block);
        subject = rawSubject(split);
        // Handed on to compose with the message (when taken at intake): read once, not twice.
        read = { headers: split.headers, bodyStart: block.length - split.body.length };
      } catch (err) {
        giveUp();
        release();
        if (!(err instanceof MessageRejectedError)) throw err;
        reject(err.reason);
        o.logger.info({ reason: err.reason }, `SMTP message refused: ${err.message}`);
        callback(smtpError(554, `5.6.0 ${err.message}`));
        return;
      }
      head.drop();
      const recipients = session.envelope.rcptTo.map((r) => r.address);
      o.store.enqueue({ door: 'smtp', kind: 'raw', payload: writer, recipients, subject, head: read }).then(
        ({ id }) => {
          release();
          o.metrics?.accepted.inc(SMTP);
          o.onQueued?.();
          callback(null, `2.0.0 Queued as ${id}`);
        },
        (err: unknown) => {
          release();
          if (err instanceof QueueRefusedError) {
            o.metrics?.refusedBusy.inc({ door: 'smtp', reason: err.reason });
            return callback(smtpError(452, `4.3.1 ${err.message}`));
          }
          o.logger.error({ err }, 'could not queue a message');
          callback(smtpError(451, '4.3.0 The queue could not store the message; try again'));
        },
      );
    });
    function tooBig(): void {
      reject('MessageTooLarge');
      callback(
        smtpError(552, `5.3.4 Message too big: the limit is ${o.maxMessageBytes} bytes (--max-message-size)`),
      );
    }
  }
  server.on('error', (err) => o.logger.warn({ err }, 'SMTP door error'));
  return server;
}
