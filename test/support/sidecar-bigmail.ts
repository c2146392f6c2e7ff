/**
 * Max-size mail at both doors of a running sidecar, as a heavy app would send it: JSON bodies just
 * under the size limit (the worst case for the heap: parsed and composed) over HTTP, large raw
 * messages over SMTP, each retried after "try later" (HTTP 503/507 with Retry-After, SMTP 452)
 * until acknowledged. Used by test/sidecar/memory.test.ts and the sidecar bench.
 *
 * @module
 */
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';

export interface BurstResult {
  /** Subjects of the acknowledged messages (the SMTP door keeps the client's Message-ID). */
  acked: Set<string>;
  /** One entry per "try later" answer: `HTTP 503`, `HTTP 507`, `SMTP 452`. */
  tryLater: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `http` JSON and `smtp` raw messages of about `maxBytes` each, all at once. */
export async function maxSizeBurst(o: {
  httpPort: number;
  smtpPort: number;
  http: number;
  smtp: number;
  maxBytes: number;
  result?: BurstResult;
}): Promise<BurstResult> {
  const r = o.result ?? { acked: new Set<string>(), tryLater: [] };
  const httpOne = async (i: number) => {
    const subject = `big ${i}`;
    const body = JSON.stringify({ to: `h${i}@example.org`, subject, text: 'x'.repeat(o.maxBytes - 200) });
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${o.httpPort}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `big-${i}` },
        body,
      });
      await res.text();
      if (res.status === 202 || res.status === 200) return r.acked.add(subject);
      assert.ok(res.status === 503 || res.status === 507, `HTTP ${res.status}`);
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      r.tryLater.push(`HTTP ${res.status}`);
      await sleep(300);
    }
  };
  const smtp = nodemailer.createTransport({
    host: '127.0.0.1',
    port: o.smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  const smtpOne = async (i: number) => {
    const subject = `big smtp ${i}`;
    for (;;) {
      try {
        const info = await smtp.sendMail({
          from: 'app@example.org',
          to: `s${i}@example.org`,
          subject,
          text: 'y\r\n'.repeat(Math.floor((o.maxBytes - 4096) / 3 / 1.1)),
        });
        assert.match(info.response, /Queued as [0-9a-f-]{36}/);
        return r.acked.add(subject);
      } catch (err) {
        assert.equal((err as { responseCode?: number }).responseCode, 452, String(err));
        r.tryLater.push('SMTP 452');
        await sleep(300);
      }
    }
  };
  try {
    await Promise.all([
      ...Array.from({ length: o.http }, (_, i) => httpOne(i)),
      ...Array.from({ length: o.smtp }, (_, i) => smtpOne(i)),
    ]);
  } finally {
    smtp.close();
  }
  return r;
}

/** Whether every acknowledged subject reached the upstream. */
export function allDelivered(acked: Set<string>, received: Array<{ headers: Map<string, string> }>): boolean {
  const subjects = new Set(received.map((m) => m.headers.get('subject')));
  return [...acked].every((s) => subjects.has(s));
}
