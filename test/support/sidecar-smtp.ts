/**
 * A bare SMTP client for the sidecar's SMTP door: one command per line, waiting for each reply, so
 * a test sees exactly what the door answers to each step.
 *
 * @module
 */
import { connect } from 'node:net';

/** Sends `commands` one by one after the greeting; returns the last line of each reply, greeting first. */
export async function smtpSession(port: number, commands: string[]): Promise<string[]> {
  const socket = connect(port, '127.0.0.1');
  const replies: string[] = [];
  let buf = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buf += String(d);
    for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (/^\d{3} /.test(line)) {
        replies.push(line);
        waiting?.();
      }
    }
  });
  const reply = () => new Promise<void>((r) => (waiting = r));
  await reply();
  for (const c of commands) {
    socket.write(`${c}\r\n`);
    await reply();
  }
  socket.end('QUIT\r\n');
  return replies;
}
