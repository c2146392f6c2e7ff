/**
 * Opens the queue database: files created `0600`, WAL bounded, schema created or migrated from the
 * first layout (payload inside the message row), and a corrupt or unreadable file moved aside
 * (`queue.db.corrupt-<time>`, with its `-wal` and `-shm`) so a fresh queue starts instead of the
 * process failing at every start.
 *
 * Layout: a message row holds what changes (state, attempts, times); its payload lives in its own
 * table, written once at enqueue and deleted when the message is done, so no state change rewrites
 * it. The payload is stored in parts of {@link PAYLOAD_PART} bytes: SQLite copies a bound or read
 * value whole, and parts keep those copies small for a message near the size limit. Each envelope
 * recipient gets a row with its first outcome (the message row's JSON list names them all; one
 * without a row is pending). Rows made at enqueue as `pending` and grown by their outcome cost 2.5
 * WAL pages a commit of ~5 SMTP messages (a page at the tail, the pages of the messages finishing,
 * which split as their rows grew); made at the outcome, they are appended in about the order
 * messages finish. A message that ends with every recipient in its own final state and its
 * attempt's reply (sent to all at once) keeps no rows: a recipient without a row of a finished
 * message ended as the message did, with its last attempt's reply. Files of earlier versions hold
 * `pending` rows, read the same way.
 *
 * @module
 */
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LEGACY_ID } from './message-id.ts';

const SCHEMA_VERSION = 6;

export { PAYLOAD_PART } from './limits.ts';

/**
 * The attempt that finished the message (sent or abandoned): kept in its row, which that outcome
 * rewrites anyway, instead of a row of `attempts` (a WITHOUT ROWID B-tree whose appends rebalance
 * its last pages: 2.3 leaf + 0.4 interior pages a commit of 6 messages). Earlier attempts, and
 * those that ended with the process, have rows there. Added in version 5.
 */
const FINAL_ATTEMPT = ['final_at INTEGER', 'final_code INTEGER', 'final_reply TEXT', 'final_ms INTEGER'];

/**
 * The message row. `id` and `idempotency_key` have no UNIQUE of their own: a column's UNIQUE
 * indexes every row, NULLs included. Only HTTP messages with the header have a key (see
 * `messages_key`); an id carries its row's seq (message-id.ts), but for those given before version
 * 6 (see `messages_id`).
 */
const MESSAGES_COLUMNS = `(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  idempotency_key TEXT,
  body_hash TEXT,
  door TEXT NOT NULL,
  kind TEXT NOT NULL,
  recipients TEXT NOT NULL,
  recipient_index TEXT NOT NULL,
  subject TEXT NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  crashes INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  config_revision TEXT,
  reason TEXT,
  ${FINAL_ATTEMPT.join(',\n  ')}
)`;

const COLUMNS = [...MESSAGES_COLUMNS.matchAll(/^\s+(\w+) /gm)].map((m) => m[1]!);

/**
 * Each B-tree a transaction touches costs at least one page in the WAL (4 KiB + a frame header,
 * two pwrites). Measured on the SMTP door (5,000 messages, 19 WAL frames a commit of ~5
 * messages), version 2 wrote 0.75 page a commit into the UNIQUE index of idempotency_key (NULL
 * for every SMTP message) and 2.0 into messages_state, whose `sent` entries (most rows, kept for
 * --retention) grow at its tail. So the key's index holds only keyed rows, and messages_state
 * only the states a query looks up by it (an unfinished message: the sweeper, recovery, the
 * oldest-waiting metric; abandoned and deferred: listings of a rare state); a listing of `sent`
 * scans the table newest first, where sent messages are most of what it meets. Written as ORs:
 * SQLite proves that `state = ?` (bound) implies an OR of equalities, not an IN list.
 * Version 4 drops messages_updated (sent and abandoned rows by `updated_at`, for the retention's
 * purge): each finished message appended to it, 1.5 pages a commit of 6 messages (a replay of
 * the SMTP door's enqueue, claim and outcome through the store: 3.69 to 3.45 WAL frames a
 * message without it); the purge reads the oldest seqs instead (store.ts).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages ${MESSAGES_COLUMNS};
CREATE UNIQUE INDEX IF NOT EXISTS messages_key ON messages(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_id ON messages(id) WHERE ${LEGACY_ID};
CREATE INDEX IF NOT EXISTS messages_due ON messages(next_attempt_at, seq) WHERE state IN ('queued', 'deferred');
CREATE INDEX IF NOT EXISTS messages_state ON messages(state, seq)
  WHERE state = 'queued' OR state = 'sending' OR state = 'deferred' OR state = 'abandoned';
CREATE TABLE IF NOT EXISTS payloads (
  seq INTEGER NOT NULL,
  part INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (seq, part)
);
CREATE TABLE IF NOT EXISTS recipients (
  message_seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  address TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  code INTEGER,
  reply TEXT,
  updated_at INTEGER,
  PRIMARY KEY (message_seq, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempts (
  message_seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  at INTEGER NOT NULL,
  code INTEGER,
  reply TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'done',
  PRIMARY KEY (message_seq, n)
) WITHOUT ROWID;
`;

/** The first layout kept the payload in the message row and recipients as JSON only. */
const MIGRATE_FROM_1 = `
CREATE TABLE payloads (seq INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (seq, part));
INSERT INTO payloads (seq, part, data) SELECT seq, 0, payload FROM messages WHERE payload IS NOT NULL;
CREATE TABLE recipients (
  message_seq INTEGER NOT NULL, n INTEGER NOT NULL, address TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', code INTEGER, reply TEXT, updated_at INTEGER,
  PRIMARY KEY (message_seq, n)
) WITHOUT ROWID;
INSERT INTO recipients (message_seq, n, address, state)
  SELECT m.seq, j.key, j.value, CASE m.state WHEN 'sent' THEN 'sent' WHEN 'abandoned' THEN 'abandoned' ELSE 'pending' END
  FROM messages m, json_each(m.recipients) j;
ALTER TABLE messages DROP COLUMN payload;
ALTER TABLE messages ADD COLUMN body_hash TEXT;
ALTER TABLE messages ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
`;

/**
 * Versions up to 5 declared `id` UNIQUE (and 2 `idempotency_key`), an index SQLite cannot drop:
 * the table is rebuilt (the columns it has copied by name: a file migrated from the first layout
 * has them in another order, one of versions before 5 lacks the final attempt's). Dropping the old table drops its indexes, made again by {@link SCHEMA}, and its
 * state-count triggers, so the counts are made again too.
 */
function rebuildMessages(db: DatabaseSync, has: ReadonlySet<string>): void {
  const copied = COLUMNS.filter((c) => has.has(c)).join(', ');
  db.exec(`CREATE TABLE messages_new ${MESSAGES_COLUMNS};
    INSERT INTO messages_new (${copied}) SELECT ${copied} FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    DROP TABLE IF EXISTS state_counts;`);
}

/** SQLite result codes that mean "this file is not a usable database". */
const UNUSABLE = new Set([11 /* CORRUPT */, 26 /* NOTADB */, 14 /* CANTOPEN */, 3 /* PERM */]);

/** Whether an error from node:sqlite says the file itself is corrupt or cannot be read. */
export function isUnusableFile(err: unknown): boolean {
  const e = err as { errcode?: unknown; code?: unknown } | undefined;
  if (e?.code === 'EACCES') return true;
  const code = e?.errcode;
  return typeof code === 'number' && UNUSABLE.has(code & 0xff);
}

/** The opened database, and the path a bad file was moved to, if one was. */
export interface OpenedQueue {
  db: DatabaseSync;
  movedAside?: string;
  /** Why the file was moved aside (SQLite's message). */
  problem?: string;
}

/** WAL bound: truncated back to this size after each checkpoint (twice the checkpoint threshold, so it is not cut and regrown every time). */
const JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024;

const HEADER = Buffer.from('SQLite format 3\0');

/** A file that does not start with SQLite's header is refused before SQLite opens it (and touches its WAL). */
function checkHeader(path: string): void {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(HEADER.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n > 0 && !head.subarray(0, n).equals(HEADER.subarray(0, n))) {
      throw Object.assign(new Error('file is not a database (no SQLite header)'), { errcode: 26 });
    }
  } finally {
    closeSync(fd);
  }
}

function openChecked(path: string): DatabaseSync {
  const fresh = !existsSync(path);
  if (fresh) closeSync(openSync(path, 'wx', 0o600));
  checkHeader(path);
  // SQLite gives the -wal and -shm files the mode of the database file.
  chmodSync(path, 0o600);
  const db = new DatabaseSync(path);
  try {
    // A fresh file is made without SQLite's syncs and synced once made (syncMade): it holds no
    // mail until this open returns, and a file cut short by a crash before that is moved aside
    // as corrupt at the next start. Made with them, a new queue took 12 fsyncs (two rollback-journal
    // transactions to set auto_vacuum and WAL, then the schema's): 25-67 ms of a sidecar's start
    // (V8 profiles of the shipped sidecar's start, strace), against 3 here.
    if (fresh) db.exec('PRAGMA synchronous = OFF');
    // auto_vacuum takes effect only before the first table: a fresh file can give pages back.
    db.exec(`PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;
      PRAGMA busy_timeout = 5000; PRAGMA journal_size_limit = ${JOURNAL_SIZE_LIMIT};`);
    const check = db.prepare('PRAGMA quick_check(1)').get() as { quick_check: string } | undefined;
    if (check?.quick_check !== 'ok') {
      throw Object.assign(new Error(`quick_check: ${check?.quick_check ?? 'no answer'}`), { errcode: 11 });
    }
    migrate(db);
    if (fresh) syncMade(path);
    db.exec('PRAGMA synchronous = FULL');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Messages in each state, kept by triggers on every insert, state change and delete: `GET
 * /v1/stats`, the page and the metrics read five rows instead of counting the whole table (polled
 * under load, the count was ~5% of the sidecar's CPU with 20,000 messages kept for `--retention`).
 */
const STATE_COUNTS = `
DROP TRIGGER IF EXISTS state_counts_insert;
DROP TRIGGER IF EXISTS state_counts_update;
DROP TRIGGER IF EXISTS state_counts_delete;
CREATE TABLE state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO state_counts (state, n)
  SELECT s.state, (SELECT count(*) FROM messages m WHERE m.state = s.state)
  FROM (SELECT 'queued' AS state UNION ALL SELECT 'sending' UNION ALL SELECT 'sent'
    UNION ALL SELECT 'deferred' UNION ALL SELECT 'abandoned') s;
CREATE TRIGGER state_counts_insert AFTER INSERT ON messages BEGIN
  UPDATE state_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER state_counts_update AFTER UPDATE OF state ON messages WHEN OLD.state IS NOT NEW.state BEGIN
  UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
  UPDATE state_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER state_counts_delete AFTER DELETE ON messages BEGIN
  UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
END;
`;

/** Creates (and fills) the state counts of a queue that has none yet: a new one, or one written before them. */
function addStateCounts(db: DatabaseSync): void {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'state_counts'").get();
  if (has) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(STATE_COUNTS);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function migrate(db: DatabaseSync): void {
  // The tables first: moving to version 3 drops the state counts, made again from the rows.
  migrateTables(db);
  addStateCounts(db);
}

function migrateTables(db: DatabaseSync): void {
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (version >= SCHEMA_VERSION) return;
  const columns = () =>
    new Set(
      (db.prepare("SELECT name FROM pragma_table_info('messages')").all() as Array<{ name: string }>).map(
        (c) => c.name,
      ),
    );
  db.exec('BEGIN IMMEDIATE');
  try {
    if (columns().has('payload')) db.exec(MIGRATE_FROM_1);
    const has = columns();
    if (has.size > 0) rebuildMessages(db, has);
    db.exec(SCHEMA);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    // The move to version 6 copies the message rows: on a full disk SQLite rolls back by itself,
    // and a second ROLLBACK would throw instead of the SQLITE_FULL the queue file waits out.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/** The new database file, its WAL and their directory entries on disk, before any mail relies on them. */
function syncMade(path: string): void {
  for (const file of [path, `${path}-wal`, dirname(path)]) {
    if (!existsSync(file)) continue;
    const fd = openSync(file, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Opens `<dataDir>/queue.db`. A file SQLite calls corrupt, not a database, or unreadable is renamed
 * with its `-wal` and `-shm` to `queue.db.corrupt-<time>…` and a fresh queue is created; any other
 * error (a directory that cannot be written) is thrown.
 */
export function openQueueDb(dataDir: string, now = new Date()): OpenedQueue {
  const path = join(dataDir, 'queue.db');
  try {
    return { db: openChecked(path) };
  } catch (err) {
    if (!isUnusableFile(err) || !existsSync(path)) throw err;
    const aside = moveAside(dataDir, now);
    return { db: openChecked(path), movedAside: aside, problem: (err as Error).message };
  }
}

/**
 * An empty queue in memory: the store's stand-in while the file cannot be opened (a full disk).
 * Nothing is ever accepted into it.
 */
export function placeholderQueueDb(): DatabaseSync {
  const db = new DatabaseSync(':memory:');
  migrate(db);
  return db;
}

/**
 * Renames `<dataDir>/queue.db` with its `-wal` and `-shm` to `queue.db.corrupt-<time>…` (the
 * database must be closed); returns the new path of the database file.
 */
export function moveAside(dataDir: string, now = new Date()): string {
  const path = join(dataDir, 'queue.db');
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  }
  return aside;
}
