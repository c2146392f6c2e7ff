/**
 * SMTP AUTH (RFC 4954) with the mechanisms nodemailer also speaks, so a probe that logs in means
 * sending will log in: PLAIN, LOGIN and CRAM-MD5, preferred in that order (as nodemailer does).
 *
 * @module
 */
import type { Reply } from './connection.ts';

export const SUPPORTED_MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5'] as const;
export type Mechanism = (typeof SUPPORTED_MECHANISMS)[number];

/** The first supported mechanism the server offers, or undefined. */
export function chooseMechanism(offered: readonly string[]): Mechanism | undefined {
  const upper = new Set(offered.map((m) => m.toUpperCase()));
  return SUPPORTED_MECHANISMS.find((m) => upper.has(m));
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The end of an AUTH exchange: the last reply, and whether sending would count it as logged in. */
export interface AuthOutcome {
  reply: Reply;
  ok: boolean;
}

/**
 * Runs one AUTH exchange through `send` (a command that returns the server's reply). Success is
 * judged as nodemailer, which sends, judges it: PLAIN and LOGIN succeed on any 2xx at the end (235 is
 * the RFC 4954 code), CRAM-MD5 only on 235, and a step that should get 334 and does not fails.
 */
export async function authenticate(
  mechanism: Mechanism,
  user: string,
  password: string,
  send: (line: string) => Promise<Reply>,
): Promise<AuthOutcome> {
  const done = (reply: Reply) => ({ reply, ok: reply.code >= 200 && reply.code < 300 });
  const challenge = async (line: string): Promise<Reply | AuthOutcome> => {
    const r = await send(line);
    return r.code === 334 ? r : { reply: r, ok: false };
  };
  switch (mechanism) {
    case 'PLAIN':
      return done(await send(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`));
    case 'LOGIN': {
      const r = await challenge('AUTH LOGIN');
      if ('ok' in r) return r;
      const r2 = await challenge(b64(user));
      if ('ok' in r2) return r2;
      return done(await send(b64(password)));
    }
    case 'CRAM-MD5': {
      const r = await challenge('AUTH CRAM-MD5');
      if ('ok' in r) return r;
      const text = Buffer.from(r.lines[0] ?? '', 'base64').toString('utf8');
      // node:crypto when CRAM-MD5 runs, not with this module (see trust.ts).
      const digest = process
        .getBuiltinModule('node:crypto')
        .createHmac('md5', password)
        .update(text)
        .digest('hex');
      const last = await send(b64(`${user} ${digest}`));
      return { reply: last, ok: last.code === 235 };
    }
  }
}
