/**
 * SMTP AUTH (RFC 4954) with the mechanisms nodemailer also speaks, so a probe that logs in means
 * sending will log in: PLAIN, LOGIN and CRAM-MD5, preferred in that order (as nodemailer does).
 *
 * @module
 */
import { createHmac } from 'node:crypto';
import type { Reply } from './connection.ts';

export const SUPPORTED_MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5'] as const;
export type Mechanism = (typeof SUPPORTED_MECHANISMS)[number];

/** The first supported mechanism the server offers, or undefined. */
export function chooseMechanism(offered: readonly string[]): Mechanism | undefined {
  const upper = new Set(offered.map((m) => m.toUpperCase()));
  return SUPPORTED_MECHANISMS.find((m) => upper.has(m));
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * Runs one AUTH exchange through `send` (a command that returns the server's reply) and returns the
 * final reply: 235 on success.
 */
export async function authenticate(
  mechanism: Mechanism,
  user: string,
  password: string,
  send: (line: string) => Promise<Reply>,
): Promise<Reply> {
  switch (mechanism) {
    case 'PLAIN':
      return send(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`);
    case 'LOGIN': {
      const r = await send('AUTH LOGIN');
      if (r.code !== 334) return r;
      const r2 = await send(b64(user));
      if (r2.code !== 334) return r2;
      return send(b64(password));
    }
    case 'CRAM-MD5': {
      const r = await send('AUTH CRAM-MD5');
      if (r.code !== 334) return r;
      const challenge = Buffer.from(r.lines[0] ?? '', 'base64').toString('utf8');
      const digest = createHmac('md5', password).update(challenge).digest('hex');
      return send(b64(`${user} ${digest}`));
    }
  }
}
