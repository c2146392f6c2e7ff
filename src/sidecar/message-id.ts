/**
 * A message's id: a UUID (RFC 9562 version 8, a layout of our own) whose first 48 bits are the time
 * in ms, then 26 random bits, and whose last 48 bits are the message's seq in its queue file.
 *
 * The seq finds the message's row, so the id needs no index of its own: an index on ids, even
 * time-ordered ones whose new entries share a page, cost 2.1 leaf + 0.3 interior WAL pages a commit
 * of 6 messages (its appends rebalance its last pages). Ids given before (version 7, time and
 * random; version 4, random) have no seq: they stay in a partial index (store-schema.ts), and
 * {@link whereId} looks them up there.
 *
 * @module
 */
import type { SQLInputValue } from 'node:sqlite';

/** Seq numbers an id can carry: 48 bits. */
const MAX_SEQ = 2 ** 48;

/** The id of the message stored under `seq` at `now`, random bits taken from `v4` (a random UUID). */
export function messageId(v4: string, now: number, seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq >= MAX_SEQ)
    throw new RangeError(`seq ${seq} out of range`);
  const t = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  const s = seq.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8)}-8${v4.slice(15, 18)}-${v4.slice(19, 23)}-${s}`;
}

const CARRIES_SEQ = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-([0-9a-f]{12})$/;

/**
 * SQL after `FROM messages` (with its arguments) that selects the message `id`: by the seq it
 * carries, or, for an id given before, through the index of those.
 */
export function whereId(id: string): { where: string; args: SQLInputValue[] } {
  const m = CARRIES_SEQ.exec(id);
  if (m) return { where: 'WHERE seq = ? AND id = ?', args: [Number.parseInt(m[1]!, 16), id] };
  return { where: `WHERE id = ? AND ${LEGACY_ID}`, args: [id] };
}

/** The rows whose id carries no seq: the WHERE of their partial index, and of their lookups. */
export const LEGACY_ID = "substr(id, 15, 1) <> '8'";
