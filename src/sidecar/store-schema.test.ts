import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { whereId } from './message-id.ts';
import { QueueStore } from './store.ts';
import { openQueueDb } from './store-schema.ts';
import type { NewMessage } from './types.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The layout of version 2 as it wrote files (its state counts included), with three messages. */
const VERSION_2 = `
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, idempotency_key TEXT UNIQUE, body_hash TEXT,
  door TEXT NOT NULL, kind TEXT NOT NULL, recipients TEXT NOT NULL, recipient_index TEXT NOT NULL,
  subject TEXT NOT NULL, size INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  crashes INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, config_revision TEXT, reason TEXT);
CREATE INDEX messages_due ON messages(next_attempt_at, seq) WHERE state IN ('queued', 'deferred');
CREATE INDEX messages_state ON messages(state, seq);
CREATE INDEX messages_updated ON messages(updated_at) WHERE state IN ('sent', 'abandoned');
CREATE TABLE payloads (seq INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (seq, part));
CREATE TABLE recipients (message_seq INTEGER NOT NULL, n INTEGER NOT NULL, address TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', code INTEGER, reply TEXT, updated_at INTEGER,
  PRIMARY KEY (message_seq, n)) WITHOUT ROWID;
CREATE TABLE attempts (message_seq INTEGER NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL, code INTEGER,
  reply TEXT NOT NULL, duration_ms INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'done',
  PRIMARY KEY (message_seq, n)) WITHOUT ROWID;
CREATE TABLE state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO state_counts VALUES ('queued', 1), ('sending', 0), ('sent', 1), ('deferred', 1), ('abandoned', 0);
INSERT INTO messages VALUES
  (1, 'keyed', 'k1', 'h1', 'http', 'json', '["a@example.org"]', ',a@example.org,', 's', 2, 'queued', 0, 0, 0, 1, 1, NULL, NULL),
  (2, 'done', NULL, NULL, 'smtp', 'raw', '["b@example.org"]', ',b@example.org,', 's', 1, 'sent', 1, 0, 2, 2, 2, 'r1', NULL),
  (3, 'later', NULL, NULL, 'smtp', 'raw', '["c@example.org"]', ',c@example.org,', 's', 1, 'deferred', 1, 0, 9e12, 3, 3, 'r1', NULL);
INSERT INTO payloads VALUES (1, 0, X'7B7D'), (3, 0, X'78');
INSERT INTO recipients (message_seq, n, address) VALUES (1, 0, 'a@example.org'), (3, 0, 'c@example.org');
INSERT INTO recipients VALUES (2, 0, 'b@example.org', 'sent', 250, '250 ok', 2);
PRAGMA user_version = 2;
`;

describe('queue schema', () => {
  it('makes a fresh file in WAL mode at the current version, and hands it back syncing as before', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailroom-schema-'));
    dirs.push(dir);
    const { db } = openQueueDb(dir);
    const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).get() as object)[0];
    // Made without SQLite's syncs (and synced once made): the connection must not keep that.
    assert.equal(pragma('synchronous'), 2, 'FULL');
    assert.equal(pragma('journal_mode'), 'wal');
    assert.equal(pragma('auto_vacuum'), 2, 'INCREMENTAL');
    assert.ok(Number(pragma('user_version')) > 0);
    db.close();
    // And the file opened again (not fresh) is the same queue.
    const again = openQueueDb(dir);
    assert.equal(again.movedAside, undefined);
    assert.equal(Object.values(again.db.prepare('PRAGMA journal_mode').get() as object)[0], 'wal');
    again.db.close();
  });

  it('migrates a version 2 queue: partial indexes, the same messages, counts and idempotency keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailroom-schema-'));
    dirs.push(dir);
    const old = new DatabaseSync(join(dir, 'queue.db'));
    old.exec(VERSION_2);
    old.close();

    const store = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
    const db = store.db;
    assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, 6);
    // No index over every row: the key's, the state's and the old ids' hold some rows only.
    const indexes = db
      .prepare('SELECT name, "unique", partial FROM pragma_index_list(\'messages\') ORDER BY name')
      .all();
    assert.deepEqual(
      indexes.map((i) => [i.name, i.unique, i.partial]),
      [
        ['messages_due', 0, 1],
        ['messages_id', 1, 1],
        ['messages_key', 1, 1],
        ['messages_state', 0, 1],
      ],
    );
    assert.deepEqual(store.counts(), { queued: 1, sending: 0, sent: 1, deferred: 1, abandoned: 0 });
    // An id given before version 6 carries no seq: found through the index of those ids.
    assert.equal(store.get('done')?.state, 'sent');
    const byId = whereId('done');
    assert.match(
      String(
        db
          .prepare(`EXPLAIN QUERY PLAN SELECT seq FROM messages ${byId.where}`)
          .all(...byId.args)
          .map((r) => r.detail),
      ),
      /USING COVERING INDEX messages_id|USING INDEX messages_id/,
    );
    assert.deepEqual(
      store.list({ state: 'sent' }).messages.map((m) => [m.id, m.recipientStates[0]?.code]),
      [['done', 250]],
    );
    assert.deepEqual(
      store.list({ state: 'deferred' }).messages.map((m) => m.id),
      ['later'],
    );
    // The key still answers with the first message; messages without one are as many as come.
    const again = { door: 'http', kind: 'json', recipients: ['a@example.org'], subject: 's' } satisfies Omit<
      NewMessage,
      'payload'
    >;
    const dup = await store.enqueue({
      ...again,
      payload: Buffer.from('{}'),
      idempotencyKey: 'k1',
      fingerprint: 'h1',
    });
    assert.deepEqual(dup, { id: 'keyed', duplicate: true });
    const a = await store.enqueue({ ...again, payload: Buffer.from('{}') });
    const b = await store.enqueue({ ...again, payload: Buffer.from('{}') });
    assert.equal(a.duplicate || b.duplicate, false);
    const claimed = await store.claim(10);
    assert.deepEqual(
      claimed.map((m) => [m.id, m.payload?.toString()]),
      [
        ['keyed', '{}'],
        [a.id, '{}'],
        [b.id, '{}'],
      ],
    );
    assert.deepEqual(store.counts(), { queued: 0, sending: 3, sent: 1, deferred: 1, abandoned: 0 });
    store.close();
  });

  it('migrates a version 3 queue: the index of finished rows by update time goes, the final attempt gets its columns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailroom-schema-'));
    dirs.push(dir);
    const first = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
    const { id } = await first.enqueue({
      door: 'smtp',
      kind: 'raw',
      payload: Buffer.from('x'),
      recipients: ['a@example.org'],
      subject: 's',
    });
    first.close();
    const old = new DatabaseSync(join(dir, 'queue.db'));
    old.exec(`CREATE INDEX messages_updated ON messages(updated_at) WHERE state IN ('sent', 'abandoned');
      ALTER TABLE messages DROP COLUMN final_at; ALTER TABLE messages DROP COLUMN final_code;
      ALTER TABLE messages DROP COLUMN final_reply; ALTER TABLE messages DROP COLUMN final_ms;
      PRAGMA user_version = 3;`);
    old.close();
    const store = new QueueStore(dir, { windowMs: 1, spareBytes: 64 * 1024 });
    assert.equal((store.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, 6);
    assert.equal(
      store.db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'messages_updated'").get(),
      undefined,
    );
    assert.equal(store.get(id)?.state, 'queued');
    const [m] = await store.claim(1);
    const attempt = { at: new Date().toISOString(), code: 250, reply: '250 ok', durationMs: 7 };
    await store.finish(m!.seq, {
      state: 'sent',
      attempt,
      configRevision: 'r1',
      recipients: [{ n: 0, state: 'sent', code: 250, reply: '250 ok' }],
    });
    const v = store.get(id)!;
    assert.deepEqual(
      v.attempts.map((a) => [a.code, a.reply, a.durationMs]),
      [[250, '250 ok', 7]],
    );
    assert.deepEqual(v.recipientStates, [
      { address: 'a@example.org', state: 'sent', code: 250, reply: '250 ok' },
    ]);
    store.close();
  });
});
