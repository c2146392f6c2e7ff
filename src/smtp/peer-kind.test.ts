import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyPeer } from './peer-kind.ts';

describe('classifyPeer', () => {
  const cases: Array<[string, Buffer, string | undefined]> = [
    ['nothing', Buffer.alloc(0), undefined],
    ['SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.6p1 host\r\n'), 'SSH'],
    ['HTTP response', Buffer.from('HTTP/1.1 400 Bad Request\r\n'), 'HTTP'],
    ['TLS alert', Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]), 'TLS'],
    ['TLS handshake', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x31]), 'TLS'],
    ['POP3', Buffer.from('+OK ready\r\n'), 'POP3'],
    ['IMAP', Buffer.from('* OK [CAPABILITY IMAP4rev1] ready\r\n'), 'IMAP'],
    ['Redis', Buffer.from('-NOAUTH Authentication required.\r\n'), 'Redis'],
    ['SMTP greeting', Buffer.from('220 mx ESMTP\r\n'), 'SMTP'],
    ['SMTP multi-line', Buffer.from('220-mx\r\n220 ok\r\n'), 'SMTP'],
    ['binary', Buffer.from([0, 1, 2, 255]), 'unknown'],
  ];
  for (const [name, head, kind] of cases) {
    it(name, () => assert.equal(classifyPeer(head), kind));
  }
});
