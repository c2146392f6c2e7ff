/**
 * The delivery worker: claims due messages from the queue, sends each through a pooled transport
 * built from one config snapshot, and records the attempt. A config change builds a new snapshot;
 * a message is composed and sent entirely with the snapshot it started with, and the old transport
 * closes once its last message is done, so a reload never mixes two configs in one message.
 *
 * @module
 */
import nodemailer from 'nodemailer';
import type { Logger } from '../runtime/logger.ts';
import { redactSecrets } from '../runtime/redact.ts';
import { transportOptions } from '../smtp/transport.ts';
import { redactedUri } from '../smtp/uri.ts';
import { composeJson, composeRaw } from './compose.ts';
import type { ActiveConfig } from './config.ts';
import type { SidecarMetrics } from './metrics.ts';
import { backoffMs, classify, secretsOf } from './retry.ts';
import type { QueueStore } from './store.ts';
import type { ClaimedMessage, JsonMessage, Outcome } from './types.ts';

export interface WorkerOptions {
  store: QueueStore;
  logger: Logger;
  metrics?: SidecarMetrics;
  /** Messages being sent at once (claimed from the queue); default 64. */
  maxInFlight?: number;
  /** Upstream connections at most; default 4. */
  maxConnections?: number;
  /** First retry delay in ms (doubling, capped by `delivery.maxBackoffMs`); default 5000. */
  retryBaseMs?: number;
}

interface Snapshot {
  active: ActiveConfig;
  transporter: ReturnType<typeof nodemailer.createTransport>;
  secrets: string[];
  inFlight: number;
  retired: boolean;
}

/** Sends queued mail. Idle until {@link DeliveryWorker.setConfig} gives it a config. */
export class DeliveryWorker {
  readonly #o: Required<Omit<WorkerOptions, 'metrics'>> & Pick<WorkerOptions, 'metrics'>;
  #snap: Snapshot | undefined;
  #inFlight = 0;
  #running = false;
  #scheduled = false;
  #claiming = false;
  #wake: NodeJS.Timeout | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  #tokens = 0;
  #tokensAt = 0;
  #idle: Array<() => void> = [];

  constructor(opts: WorkerOptions) {
    this.#o = { maxInFlight: 64, maxConnections: 4, retryBaseMs: 5000, ...opts };
  }

  /** Messages being sent right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The config deliveries use now. */
  get config(): ActiveConfig | undefined {
    return this.#snap?.active;
  }

  start(): void {
    this.#running = true;
    this.notify();
  }

  /** Adopts a config: later messages use a new transport; messages under way finish on the old one. */
  setConfig(active: ActiveConfig): void {
    const { endpoint, config } = active;
    const options = transportOptions(endpoint, {
      ...(config.smtp.localName ? { localName: config.smtp.localName } : {}),
      ...(config.smtp.ca ? { ca: config.smtp.ca } : {}),
      ...(config.dkim ? { dkim: config.dkim } : {}),
      maxConnections: this.#o.maxConnections,
    });
    const transporter = nodemailer.createTransport(options);
    // The pool reports connection trouble per message too; an unhandled 'error' would end the process.
    transporter.on('error', (err) => this.#o.logger.warn({ err }, 'upstream connection error'));
    const old = this.#snap;
    this.#snap = {
      active,
      transporter,
      secrets: secretsOf(endpoint.username, endpoint.password),
      inFlight: 0,
      retired: false,
    };
    this.#tokens = 0;
    this.#tokensAt = Date.now();
    this.#o.logger.info(
      { endpoint: redactedUri(endpoint), security: endpoint.security, revision: config.revision },
      'delivering through this endpoint',
    );
    if (old) this.#retire(old);
    this.notify();
  }

  /** Something changed (a message was queued): look for work soon. */
  notify(): void {
    if (this.#scheduled || !this.#running) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /** Stops claiming; resolves when every message under way has its attempt recorded (or after `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.#running = false;
    if (this.#wake) clearTimeout(this.#wake);
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.#idle.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (this.#snap) this.#retire(this.#snap);
    this.#snap = undefined;
  }

  #retire(s: Snapshot): void {
    s.retired = true;
    if (s.inFlight === 0) s.transporter.close();
  }

  #pump(): void {
    const snap = this.#snap;
    if (!this.#running || !snap || this.#claiming) return;
    const free = this.#o.maxInFlight - this.#inFlight;
    // Refill in batches (one claim for many messages) unless the worker is nearly idle.
    if (free <= 0 || (this.#inFlight > 0 && free < this.#o.maxInFlight / 2)) return;
    const now = Date.now();
    const limit = Math.min(free, this.#allowance(snap, now));
    if (limit <= 0) return;
    this.#claiming = true;
    this.#o.store.claim(limit, now).then(
      (batch) => {
        this.#claiming = false;
        // Stopped meanwhile: the claimed rows stay in `sending` and return to the queue on the next start.
        if (!this.#running) return;
        const current = this.#snap ?? snap;
        this.#spend(current, batch.length);
        for (const m of batch) void this.#send(m, current);
        if (batch.length < limit) {
          const due = this.#o.store.nextDueAt();
          if (due !== undefined) this.#wakeUpAt(due);
        } else this.notify();
      },
      (err: unknown) => {
        this.#claiming = false;
        this.#o.logger.error({ err }, 'could not claim messages from the queue; retrying in 1s');
        this.#wakeUpAt(Date.now() + 1000);
      },
    );
  }

  /** Messages the rate limit allows now (a token bucket holding at most one second of sends). */
  #allowance(snap: Snapshot, now: number): number {
    const rate = snap.active.config.delivery.ratePerSecond;
    if (rate <= 0) return Number.POSITIVE_INFINITY;
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) / 1000) * rate);
    this.#tokensAt = now;
    const n = Math.floor(this.#tokens);
    if (n <= 0) this.#wakeUpAt(now + Math.ceil(((1 - this.#tokens) / rate) * 1000));
    return n;
  }

  #spend(snap: Snapshot, n: number): void {
    if (snap.active.config.delivery.ratePerSecond > 0) this.#tokens -= n;
  }

  #wakeUpAt(at: number): void {
    // Timers further out than a minute are re-armed later: clocks and new messages change the plan.
    const target = Math.min(at, Date.now() + 60_000);
    if (this.#wake && target >= this.#wakeAt) return;
    if (this.#wake) clearTimeout(this.#wake);
    this.#wakeAt = target;
    this.#wake = setTimeout(
      () => {
        this.#wake = undefined;
        this.#wakeAt = Number.POSITIVE_INFINITY;
        this.#pump();
      },
      Math.max(0, target - Date.now()),
    );
  }

  async #send(m: ClaimedMessage, snap: Snapshot): Promise<void> {
    this.#inFlight++;
    snap.inFlight++;
    const { config } = snap.active;
    const startedAt = Date.now();
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      const composed =
        m.kind === 'json'
          ? composeJson(
              JSON.parse(m.payload.toString()) as JsonMessage,
              m.recipients,
              m.id,
              m.createdAt,
              config,
            )
          : composeRaw(m.payload, m.recipients, m.id, m.createdAt, config);
      const info = await snap.transporter.sendMail(composed);
      const reply = String(info.response ?? '250');
      const attempt = {
        at: new Date(startedAt).toISOString(),
        code: Number.parseInt(reply, 10) || 250,
        reply: redactSecrets(reply, snap.secrets).slice(0, 1000),
        durationMs: performance.now() - t0,
      };
      const rejected = (info.rejected ?? []).length;
      outcome = {
        state: 'sent',
        attempt,
        configRevision: config.revision,
        ...(rejected ? { reason: `${rejected} recipient(s) refused by the server` } : {}),
      };
    } catch (err) {
      outcome = this.#failure(err, m, snap, startedAt, performance.now() - t0);
    }
    try {
      await this.#o.store.finish(m.seq, outcome);
      this.#o.metrics?.attempts.inc({ result: outcome.state });
      this.#o.metrics?.attemptDuration.observe({ result: outcome.state }, outcome.attempt.durationMs / 1000);
      if (outcome.state === 'deferred') this.#wakeUpAt(outcome.nextAttemptAt);
      if (outcome.state === 'abandoned')
        this.#o.logger.warn(
          { id: m.id, code: outcome.attempt.code, reason: outcome.reason },
          'message abandoned',
        );
    } catch (err) {
      // The row stays in `sending` and returns to the queue on the next start: sent twice at worst.
      this.#o.logger.error({ err, id: m.id }, 'could not record a delivery attempt');
    } finally {
      this.#inFlight--;
      snap.inFlight--;
      if (snap.retired && snap.inFlight === 0) snap.transporter.close();
      if (this.#inFlight === 0) for (const f of this.#idle.splice(0)) f();
      this.notify();
    }
  }

  #failure(err: unknown, m: ClaimedMessage, snap: Snapshot, startedAt: number, durationMs: number): Outcome {
    const { delivery, revision } = snap.active.config;
    const v = classify(err, snap.secrets);
    const attempt = { at: new Date(startedAt).toISOString(), code: v.code, reply: v.reply, durationMs };
    const n = m.attempts + 1;
    if (!v.retry) {
      return {
        state: 'abandoned',
        attempt,
        configRevision: revision,
        reason: `permanent failure: the server answered ${v.code}`,
      };
    }
    if (n >= delivery.maxAttempts) {
      return {
        state: 'abandoned',
        attempt,
        configRevision: revision,
        reason: `gave up after ${n} attempt${n === 1 ? '' : 's'} (delivery.maxAttempts)`,
      };
    }
    const delay = backoffMs(n, { baseMs: this.#o.retryBaseMs, maxMs: delivery.maxBackoffMs });
    return {
      state: 'deferred',
      attempt,
      configRevision: revision,
      nextAttemptAt: Date.now() + delay,
      reason: `attempt ${n} of ${delivery.maxAttempts} failed; retrying in ${Math.ceil(delay / 1000)}s`,
    };
  }
}
