/**
 * The message model shared by the front doors, the queue store, the delivery worker and the API.
 *
 * @module
 */

/** Delivery states: `queued → sending → sent | deferred (→ sending …) | abandoned`. */
export const MESSAGE_STATES = ['queued', 'sending', 'sent', 'deferred', 'abandoned'] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

/** A recipient's own state: `pending` until the upstream takes it (`sent`) or refuses it for good. */
export type RecipientState = 'pending' | 'sent' | 'abandoned';

/** Which front door accepted a message. */
export type Door = 'http' | 'smtp';

/** The app's message as the HTTP API took it (validated; stored as JSON). */
export interface JsonMessage {
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  text?: string;
  html?: string;
  headers: Record<string, string>;
}

/** A header field of a raw message: its name and raw value (continuation lines kept with their CRLF). */
export interface RawHeader {
  name: string;
  value: string;
}

/**
 * The SMTP door's reading of a raw message's header block: its fields, and where its body starts
 * in the payload. Handed on to the message's first attempt when it is taken for delivery at
 * intake, so that the block is not read a second time to compose it.
 */
export interface RawHead {
  headers: RawHeader[];
  bodyStart: number;
}

/** What a front door hands to the queue. */
export interface NewMessage {
  door: Door;
  /** `json`: a {@link JsonMessage}; `raw`: the RFC 5322 bytes from the SMTP door. */
  kind: 'json' | 'raw';
  payload: Buffer;
  /** Envelope recipients (for `json`: to + cc + bcc). */
  recipients: string[];
  /** For the delivery log only. */
  subject: string;
  idempotencyKey?: string;
  /** What makes two messages the same for an idempotency key; default: a hash of the payload. */
  fingerprint?: string;
  /** A raw message's header block as the door read it (see {@link RawHead}). */
  head?: RawHead;
}

/** One delivery attempt, as recorded and as the API returns it. */
export interface Attempt {
  /** ISO time the attempt started. */
  at: string;
  /** SMTP reply code, or null when no reply came (connection, TLS or time-out failure). */
  code: number | null;
  /** The server's reply (or the failure), with every credential removed. */
  reply: string;
  durationMs: number;
}

/** One envelope recipient of a message, with its own outcome. */
export interface RecipientView {
  address: string;
  state: RecipientState;
  /** Code of the last reply about this recipient (RCPT or DATA), if any. */
  code?: number | null;
  /** The last reply about this recipient, credentials removed. */
  reply?: string;
}

/** A message as the API and the delivery log show it (no body: the queue keeps it only until done). */
export interface MessageView {
  id: string;
  state: MessageState;
  door: Door;
  recipients: string[];
  /** Each recipient's state and last reply. */
  recipientStates: RecipientView[];
  subject: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  /** When the next attempt is due (queued and deferred messages). */
  nextAttemptAt?: string;
  /** Config revision of the last attempt. */
  configRevision?: string;
  /** Why a message was abandoned, or why it waits, in words. */
  reason?: string;
  attempts: Attempt[];
}

/** A claimed message: what the worker needs to send it (the payload is read when it is sent). */
export interface ClaimedMessage {
  seq: number;
  id: string;
  kind: 'json' | 'raw';
  size: number;
  /** Recipients still pending, with their index in the message. */
  pending: Array<{ n: number; address: string }>;
  /** Recipients already delivered by earlier attempts. */
  delivered: number;
  /** Attempts so far, this one included (it was counted at claim time). */
  attempts: number;
  createdAt: number;
  /**
   * The payload, read inside the claim's transaction when it is one part (size up to
   * `PAYLOAD_PART`): a read on its own costs a read transaction (locks on the WAL index) of its own.
   */
  payload?: Buffer;
  /** A raw message taken at intake: its header block as the door read it (see {@link RawHead}). */
  head?: RawHead;
}

/** What one attempt did to one recipient. */
export interface RecipientOutcome {
  n: number;
  state: RecipientState;
  code: number | null;
  reply: string;
}

/** The result of one attempt, as the worker reports it to the store. */
export type Outcome = {
  attempt: Attempt;
  configRevision: string;
  reason?: string;
  /** Recipients whose state or last reply this attempt changed. */
  recipients: RecipientOutcome[];
} & ({ state: 'sent' } | { state: 'deferred'; nextAttemptAt: number } | { state: 'abandoned' });
