/**
 * The client side of the SMTP wire protocol, just as far as a probe needs it: read a (multi-line)
 * reply, send a command, upgrade the socket to TLS. Every wait is bounded, and a peer that sends
 * garbage, too much, or nothing is reported as such rather than hanging the probe.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { WireObserver } from './transcript.ts';

/** One SMTP reply: the code and the text of each line (without the code). */
export interface Reply {
  code: number;
  lines: string[];
}

/** Why a wait for the peer ended without a reply. */
export type WireFailure = 'timeout' | 'closed' | 'garbage' | 'overflow' | 'socket';

export class WireError extends Error {
  readonly failure: WireFailure;
  /** The socket error code (ECONNRESET, …) when `failure` is `socket`. */
  readonly code: string | undefined;
  /** For a failed TLS handshake: key material was derived, so the server got past ServerHello. */
  readonly keysDerived: boolean;
  constructor(
    failure: WireFailure,
    message: string,
    options?: { cause?: unknown; code?: string; keysDerived?: boolean },
  ) {
    super(message, options);
    this.name = 'WireError';
    this.failure = failure;
    this.code = options?.code;
    this.keysDerived = options?.keysDerived ?? false;
  }
}

// RFC 5321 caps a reply line at 512 octets; servers exceed it in practice, so be lenient but bounded.
const MAX_LINE = 4096;
const MAX_LINES = 200;
const REPLY_LINE = /^(\d{3})([ -])(.*)$/;
// Enough of a peer's first bytes to tell its protocol (see peer-kind.ts).
const HEAD_BYTES = 64;

/** A line-oriented SMTP client over a socket that may be upgraded to TLS mid-session. */
export class SmtpConnection {
  #socket: Socket;
  #buffer = '';
  #head = Buffer.alloc(0);
  #lines: string[] = [];
  #ended: WireError | undefined;
  #wake: (() => void) | undefined;
  readonly #observer: WireObserver | undefined;
  readonly #onData = (chunk: Buffer) => this.#receive(chunk);
  readonly #onClose = () => this.#fail(new WireError('closed', 'the server closed the connection'));
  readonly #onError = (err: NodeJS.ErrnoException) =>
    this.#fail(new WireError('socket', err.message, { cause: err, code: err.code ?? 'ESOCKET' }));

  /** `observer` sees every line sent and received (a {@link Transcript}). */
  constructor(socket: Socket, observer?: WireObserver) {
    this.#socket = socket;
    this.#observer = observer;
    this.#attach();
  }

  get socket(): Socket {
    return this.#socket;
  }

  /**
   * The first bytes the peer sent on the current socket (reset by a TLS upgrade): for classifying a
   * peer that is not SMTP. Never to be shown: they may be any banner.
   */
  get head(): Buffer {
    return this.#head;
  }

  /** Sends a line without waiting for a reply (a nudge to a peer that does not speak first). */
  write(line: string): void {
    if (this.#ended || this.#socket.destroyed) return;
    this.#observer?.client(line);
    this.#socket.write(`${line}\r\n`);
  }

  /** Hands the socket over (for a handshake elsewhere) and stops reading it. */
  release(): Socket {
    this.#detach();
    return this.#socket;
  }

  /** Waits for the next complete reply, at most `timeoutMs`. */
  async readReply(timeoutMs: number): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.#takeReply();
      if (reply) return reply;
      if (this.#ended) throw this.#ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new WireError('timeout', `no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Sends one command line and waits for its reply; `secret` marks a line of an AUTH exchange. */
  async command(line: string, timeoutMs: number, secret = false): Promise<Reply> {
    if (this.#ended) throw this.#ended;
    this.#observer?.client(line, secret);
    this.#socket.write(`${line}\r\n`);
    return this.readReply(timeoutMs);
  }

  /**
   * Starts TLS on the current socket (STARTTLS) or on a fresh TCP socket (implicit TLS). Bytes the
   * peer sent before the handshake are discarded, as RFC 3207 requires.
   */
  async upgradeToTls(options: ConnectionOptions, timeoutMs: number): Promise<TLSSocket> {
    this.#detach();
    this.#buffer = '';
    this.#lines = [];
    this.#head = Buffer.alloc(0);
    const plain = this.#socket;
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      // node:tls loads with the first TLS connection, not with this module (see trust.ts).
      const s = process.getBuiltinModule('node:tls').connect({ ...options, socket: plain });
      // Keys are logged once the server's hello is processed: a refusal after that is about the
      // client (its certificate), not about versions or ciphers.
      let keysDerived = false;
      s.once('keylog', () => {
        keysDerived = true;
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new WireError('timeout', `TLS handshake not finished within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new WireError('socket', err.message, { cause: err, code: err.code ?? 'ETLS', keysDerived }));
      });
      plain.once('close', () => {
        clearTimeout(timer);
        reject(
          new WireError('closed', 'the server closed the connection during the TLS handshake', {
            keysDerived,
          }),
        );
      });
    });
    this.#socket = secure;
    this.#ended = undefined;
    this.#attach();
    return secure;
  }

  /** Sends QUIT (best effort, briefly) and closes the socket. */
  async close(timeoutMs = 500): Promise<void> {
    if (!this.#ended && !this.#socket.destroyed) {
      try {
        await this.command('QUIT', timeoutMs);
      } catch {
        // The probe's verdict is already made; a server that drops QUIT changes nothing.
      }
    }
    this.destroy();
  }

  destroy(): void {
    this.#detach();
    this.#socket.destroy();
  }

  #attach(): void {
    this.#socket.on('data', this.#onData);
    this.#socket.on('close', this.#onClose);
    this.#socket.on('error', this.#onError);
  }

  #detach(): void {
    this.#socket.off('data', this.#onData);
    this.#socket.off('close', this.#onClose);
    this.#socket.off('error', this.#onError);
    // Keep a listener so a late error on a detached socket cannot crash the process.
    this.#socket.on('error', () => {});
  }

  #receive(chunk: Buffer): void {
    if (this.#head.length < HEAD_BYTES)
      this.#head = Buffer.concat([this.#head, chunk.subarray(0, HEAD_BYTES - this.#head.length)]);
    this.#buffer += chunk.toString('latin1');
    let nl = this.#buffer.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).replace(/\r$/, '');
      this.#observer?.server(line);
      this.#lines.push(line);
      this.#buffer = this.#buffer.slice(nl + 1);
      nl = this.#buffer.indexOf('\n');
    }
    if (this.#buffer.length > MAX_LINE || this.#lines.length > MAX_LINES) {
      this.#fail(new WireError('overflow', 'the server sent more than an SMTP reply can hold'));
    }
    this.#wake?.();
  }

  #fail(err: WireError): void {
    this.#ended ??= err;
    this.#wake?.();
  }

  #takeReply(): Reply | undefined {
    const lines: string[] = [];
    let code = 0;
    for (let i = 0; i < this.#lines.length; i++) {
      const line = this.#lines[i]!;
      // A bare code with no text ("250") is legal too.
      const m = REPLY_LINE.exec(line) ?? (/^\d{3}$/.test(line) ? [line, line, ' ', ''] : null);
      if (!m || (i > 0 && Number(m[1]) !== code)) {
        this.#lines = [];
        // Not quoted: a peer that is not SMTP may send a banner naming internal hosts (see head).
        throw new WireError('garbage', 'the server sent a line that is not an SMTP reply');
      }
      code = Number(m[1]);
      lines.push(m[3] ?? '');
      if (m[2] === ' ') {
        this.#lines.splice(0, i + 1);
        return { code, lines };
      }
    }
    return undefined;
  }
}

/** Server text made safe to show: printable ASCII only, bounded length. */
export function printable(text: string, max = 160): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
