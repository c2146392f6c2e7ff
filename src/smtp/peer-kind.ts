/**
 * What kind of peer answered when it was not SMTP, told from its first bytes: SSH, HTTP, TLS, POP3,
 * IMAP, … or just "not SMTP".
 *
 * The probe dials whatever host:port an EmailSender names, and its result lands in status, Events
 * and logs that many more people can read than can reach that port. So a peer that does not speak
 * SMTP is named by its protocol only: its bytes (an SSH or HTTP banner names software, versions and
 * internal host names) are never copied into any message.
 *
 * @module
 */

/** A protocol recognised from a peer's first bytes. */
export type PeerKind = 'SMTP' | 'SSH' | 'HTTP' | 'TLS' | 'POP3' | 'IMAP' | 'Redis' | 'unknown';

// Patterns are checked on the first bytes only, in order; each is specific enough that a real SMTP
// reply cannot match it ("220 " and FTP share a greeting: FTP is told apart only by EHLO failing).
const SIGNATURES: ReadonlyArray<[PeerKind, (head: Buffer, text: string) => boolean]> = [
  ['SSH', (_h, t) => t.startsWith('SSH-')],
  ['HTTP', (_h, t) => /^HTTP\/\d/.test(t)],
  // A TLS record: content type alert (21) or handshake (22), then major version 3.
  ['TLS', (h) => h.length >= 2 && (h[0] === 0x15 || h[0] === 0x16) && h[1] === 0x03],
  ['POP3', (_h, t) => /^(\+OK|-ERR)\b/.test(t)],
  ['IMAP', (_h, t) => /^\* (OK|PREAUTH|BYE)\b/i.test(t)],
  ['Redis', (_h, t) => /^-(ERR|NOAUTH|DENIED)\b/.test(t)],
  ['SMTP', (_h, t) => /^\d{3}([ -]|\r?\n|$)/.test(t)],
];

/** Classifies a peer from the first bytes it sent; `undefined` when it sent nothing. */
export function classifyPeer(head: Buffer): PeerKind | undefined {
  if (head.length === 0) return undefined;
  const text = head.subarray(0, 64).toString('latin1');
  for (const [kind, test] of SIGNATURES) if (test(head, text)) return kind;
  return 'unknown';
}

/** A phrase for messages: "speaks SSH", "speaks a protocol other than SMTP". */
export function describePeer(kind: PeerKind): string {
  switch (kind) {
    case 'unknown':
      return 'speaks a protocol other than SMTP';
    case 'TLS':
      return 'speaks TLS from the first byte';
    default:
      return `speaks ${kind}`;
  }
}

/** What to change when a port speaks `kind` instead of SMTP in the URI's scheme. */
export function hintForPeer(kind: PeerKind, scheme: 'smtp' | 'smtps'): string {
  if (kind === 'TLS' && scheme === 'smtp') return 'use smtps:// for this port (implicit TLS, usually 465)';
  if (kind === 'SMTP' && scheme === 'smtps') return 'use smtp:// (STARTTLS) for this port, or port 465';
  return 'check the host and port: 587 for smtp:// (STARTTLS), 465 for smtps://';
}
