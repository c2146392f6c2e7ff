/**
 * Read side of the queue: messages as the API, the page and `mailroom deliveries` show them, with
 * each recipient's state and last reply and every attempt.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { whereId } from './message-id.ts';
import type { Attempt, MessageState, MessageView, RecipientState, RecipientView } from './types.ts';

/** Filter and page of a listing. */
export interface ListQuery {
  state?: MessageState;
  /** Exact envelope recipient (case-insensitive). */
  recipient?: string;
  /** Page size, 1–500; default 50. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

export interface ListPage {
  messages: MessageView[];
  nextCursor?: string;
}

interface MessageRow {
  seq: number;
  id: string;
  door: string;
  recipients: string;
  subject: string;
  size: number;
  state: string;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
  config_revision: string | null;
  reason: string | null;
  final_at: number | null;
  final_code: number | null;
  final_reply: string | null;
  final_ms: number | null;
}

const COLUMNS =
  'seq, id, door, recipients, subject, size, state, next_attempt_at, created_at, updated_at, config_revision, reason, final_at, final_code, final_reply, final_ms';

function bySeq<T>(rows: Array<T & { message_seq: number }>): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const list = out.get(r.message_seq) ?? [];
    list.push(r);
    out.set(r.message_seq, list);
  }
  return out;
}

/** Messages matching `where` (SQL after FROM messages), with their recipients and attempts. */
export function messageViews(db: DatabaseSync, where: string, args: SQLInputValue[]): MessageView[] {
  const rows = db.prepare(`SELECT ${COLUMNS} FROM messages ${where}`).all(...args) as unknown as MessageRow[];
  if (rows.length === 0) return [];
  const seqs = rows.map((r) => r.seq);
  const marks = seqs.map(() => '?').join(',');
  const attempts = bySeq(
    db
      .prepare(
        `SELECT message_seq, at, code, reply, duration_ms, state FROM attempts WHERE message_seq IN (${marks}) ORDER BY message_seq, n`,
      )
      .all(...seqs) as Array<{
      message_seq: number;
      at: number;
      code: number | null;
      reply: string;
      duration_ms: number;
      state: string;
    }>,
  );
  const rcpts = bySeq(
    db
      .prepare(
        // Every recipient, with its row when it has one (store-schema.ts, recipients).
        `SELECT m.seq AS message_seq, j.value AS address, r.state, r.code, r.reply
        FROM messages m, json_each(m.recipients) j LEFT JOIN recipients r ON r.message_seq = m.seq AND r.n = j.key
        WHERE m.seq IN (${marks}) ORDER BY m.seq, j.key`,
      )
      .all(...seqs) as Array<{
      message_seq: number;
      address: string;
      state: RecipientState | null;
      code: number | null;
      reply: string | null;
    }>,
  );
  return rows.map((r) => {
    // An attempt still under way is shown once it has an outcome (a file written by an earlier
    // version may hold its row, in state `started`); the one that finished the message is in its row.
    const tried = (attempts.get(r.seq) ?? [])
      .filter((a) => a.state !== 'started')
      .map(
        (a): Attempt => ({
          at: new Date(a.at).toISOString(),
          code: a.code,
          reply: a.reply,
          durationMs: a.duration_ms,
        }),
      );
    if (r.final_at !== null)
      tried.push({
        at: new Date(r.final_at).toISOString(),
        code: r.final_code,
        reply: r.final_reply ?? '',
        durationMs: r.final_ms ?? 0,
      });
    const finished = r.state === 'sent' || r.state === 'abandoned';
    const view: MessageView = {
      id: r.id,
      state: r.state as MessageState,
      door: r.door as MessageView['door'],
      recipients: JSON.parse(r.recipients) as string[],
      recipientStates: (rcpts.get(r.seq) ?? []).map((x) => {
        // No row: pending, or, once the message is finished, ended as it did with its last reply.
        const last = x.state === null && finished ? tried.at(-1) : undefined;
        const v: RecipientView = {
          address: x.address,
          state: x.state ?? (last ? (r.state as RecipientState) : 'pending'),
        };
        if (last) Object.assign(v, { code: last.code, reply: last.reply });
        else if (x.reply !== null) Object.assign(v, { code: x.code, reply: x.reply });
        return v;
      }),
      subject: r.subject,
      size: r.size,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
      attempts: tried,
    };
    if (r.state === 'queued' || r.state === 'deferred')
      view.nextAttemptAt = new Date(r.next_attempt_at).toISOString();
    if (r.config_revision) view.configRevision = r.config_revision;
    if (r.reason) view.reason = r.reason;
    return view;
  });
}

/** Messages newest first, filtered, paged by an opaque cursor. */
export function listMessages(db: DatabaseSync, q: ListQuery): ListPage {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
  const where: string[] = [];
  const args: Array<string | number> = [];
  if (q.state) {
    where.push('state = ?');
    args.push(q.state);
  }
  if (q.recipient) {
    where.push("recipient_index LIKE ? ESCAPE '\\'");
    args.push(`%,${q.recipient.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)},%`);
  }
  if (q.cursor) {
    const before = Number.parseInt(Buffer.from(q.cursor, 'base64url').toString(), 10);
    if (Number.isSafeInteger(before)) {
      where.push('seq < ?');
      args.push(before);
    }
  }
  const sql = `${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
  const views = messageViews(db, sql, [...args, limit + 1]);
  const page = views.slice(0, limit);
  if (views.length <= limit) return { messages: page };
  const { where: byId, args: idArgs } = whereId(page.at(-1)!.id);
  const last = db.prepare(`SELECT seq FROM messages ${byId}`).get(...idArgs) as { seq: number };
  return { messages: page, nextCursor: Buffer.from(String(last.seq)).toString('base64url') };
}
