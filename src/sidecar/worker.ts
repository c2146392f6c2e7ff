/**
 * The delivery worker: claims due messages from the queue, sends each through a pooled transport
 * built from one config snapshot, and records the attempt. A config change builds a new snapshot;
 * a message is composed and sent entirely with the snapshot it started with, and the old transport
 * closes once its last message is done, so a reload never mixes two configs in one message.
 *
 * Memory is bounded by a {@link ByteBudget}: a message is claimed only when its cost fits, and its
 * payload is read from the queue when it is sent. No row stays in `sending`: a send that outlives
 * the send timeout is recorded as failed, an outcome that cannot be written is written again, and a
 * sweeper returns to the queue any row no send holds.
 *
 * A new message can skip the queue: the worker takes it as it is stored when a send slot, the byte
 * budget and the rate limit allow and nothing in the queue is due before it (see
 * {@link DeliveryWorker.take}); it is sent once durable, without a claim of its own.
 *
 * @module
 */
import type { Logger } from '../runtime/logger.ts';
import { transportOptions } from '../smtp/transport.ts';
import { redactedUri } from '../smtp/uri.ts';
import { ByteBudget } from './budget.ts';
import type { ActiveConfig } from './config.ts';
import { DueWatch } from './due-watch.ts';
import { messageCost } from './limits.ts';
import type { SidecarMetrics } from './metrics.ts';
import { secretsOf } from './retry.ts';
import { type Snapshot, sendOne } from './send.ts';
import { learnSmtputf8 } from './smtputf8.ts';
import type { IntakeTaker, QueueStore } from './store.ts';
import type { ClaimedMessage, NewMessage, Outcome } from './types.ts';
import { Upstream } from './upstream.ts';

export interface WorkerOptions {
  store: QueueStore;
  logger: Logger;
  metrics?: SidecarMetrics;
  /** Messages being sent at once (claimed from the queue); default 64. */
  maxInFlight?: number;
  /** Bytes of messages being sent at once (see {@link messageCost}); default unbounded. */
  budget?: ByteBudget;
  /** Upstream connections at most; default 4. */
  maxConnections?: number;
  /** First retry delay in ms (doubling, capped by `delivery.maxBackoffMs`); default 5000. */
  retryBaseMs?: number;
  /** Longest a send may take before it counts as failed, ms; default 300,000 (RFC 5321's DATA wait). */
  sendTimeoutMs?: number;
}

const SWEEP_MARGIN_MS = 30_000;

/**
 * Sends queued mail, and new mail it takes at intake (it is its store's {@link IntakeTaker}). Idle
 * until {@link DeliveryWorker.setConfig} gives it a config.
 */
export class DeliveryWorker implements IntakeTaker {
  readonly #o: Required<Omit<WorkerOptions, 'metrics'>> & Pick<WorkerOptions, 'metrics'>;
  #snap: Snapshot | undefined;
  /** Messages claimed and not yet recorded, by seq. */
  readonly #live = new Set<number>();
  #running = false;
  #scheduled = false;
  #claiming = false;
  #wake: NodeJS.Timeout | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  #sweeper: NodeJS.Timeout | undefined;
  #tokens = 0;
  #tokensAt = 0;
  #idle: Array<() => void> = [];
  #asking = false;
  /** When the queue next has something due: new mail skips it, and no claim is asked, only before. */
  readonly #due = new DueWatch();
  /** Messages the claim under way may still take (slots new mail must leave to it). */
  #claimLimit = 0;

  constructor(opts: WorkerOptions) {
    this.#o = {
      maxInFlight: 64,
      maxConnections: 4,
      retryBaseMs: 5000,
      sendTimeoutMs: 300_000,
      budget: new ByteBudget(Number.POSITIVE_INFINITY),
      ...opts,
    };
    opts.store.taker = this;
  }

  /** Messages being sent right now. */
  get inFlight(): number {
    return this.#live.size;
  }

  /** The config deliveries use now. */
  get config(): ActiveConfig | undefined {
    return this.#snap?.active;
  }

  /**
   * From now on, each config's upstream is asked what it offers (SMTPUTF8) as soon as the config
   * is applied. The sidecar calls it once its doors listen: start-up spends nothing on a
   * connection to the upstream (and the probe's code), which nothing accepted yet needs.
   */
  askUpstream(): void {
    this.#asking = true;
    if (this.#snap) void learnSmtputf8(this.#snap, this.#snap.active);
  }

  start(): void {
    this.#running = true;
    const every = Math.min(10_000, Math.max(250, this.#o.sendTimeoutMs / 4));
    this.#sweeper = setInterval(() => this.#sweep(), every);
    this.#sweeper.unref();
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
      socketTimeoutMs: this.#o.sendTimeoutMs,
    });
    // Built (nodemailer loaded) with the first message: an idle sidecar loads no mail library. The
    // pool reports connection trouble per message too; an unhandled 'error' would end the process.
    const transporter = new Upstream(options, (err) =>
      this.#o.logger.warn({ err }, 'upstream connection error'),
    );
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
    // What the upstream offers (SMTPUTF8), known before the first message: the doors use it.
    if (this.#asking) void learnSmtputf8(this.#snap, active);
    this.notify();
  }

  /** Whether the current upstream offers SMTPUTF8; undefined while not known. */
  get smtputf8(): boolean | undefined {
    return this.#snap?.smtputf8;
  }

  /**
   * Messages may be due that the worker has not seen go into the queue (a queue opened late, a
   * fresh queue with what was salvaged from a corrupt one): claim again.
   */
  queueChanged(): void {
    this.#due.moved();
    this.notify();
  }

  /** See {@link IntakeTaker.take}: a free slot, room in the budget and the rate, and nothing due first. */
  take(seq: number, size: number, kind: NewMessage['kind'], now: number): boolean {
    const snap = this.#snap;
    const budget = this.#o.budget;
    const cost = messageCost(size, kind);
    const room =
      this.#running &&
      snap !== undefined &&
      this.#due.nothingDue(now) &&
      this.#live.size + this.#claimLimit < this.#o.maxInFlight &&
      (budget.idle || budget.free >= cost) &&
      this.#allowance(snap, now) >= 1;
    if (!room) {
      // It goes into the queue: the next claim takes it, and new mail does not overtake it.
      this.#due.moved();
      return false;
    }
    this.#live.add(seq);
    budget.reserve(cost);
    this.#spend(snap, 1);
    return true;
  }

  /** See {@link IntakeTaker.taken}. */
  taken(m: ClaimedMessage): void {
    const snap = this.#snap;
    if (!this.#running || !snap) {
      // Stopped meanwhile: the row returns to the queue when the store closes.
      this.#o.budget.release(messageCost(m.size, m.kind));
      this.#done(m.seq);
      return;
    }
    void this.#send(m, snap);
  }

  /** See {@link IntakeTaker.dropped}. */
  dropped(seq: number, size: number, kind: NewMessage['kind']): void {
    this.#o.budget.release(messageCost(size, kind));
    this.#done(seq);
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
    if (this.#sweeper) clearInterval(this.#sweeper);
    if (this.#live.size > 0) {
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
    const max = this.#o.maxInFlight;
    const free = max - this.#live.size;
    // Refill in batches (one claim for many messages) unless the worker is nearly idle.
    if (free <= 0 || (this.#live.size > 0 && free < max / 2)) return;
    const now = Date.now();
    if (this.#due.nothingDue(now)) {
      const next = this.#due.next;
      if (next !== undefined) this.#wakeUpAt(next);
      return;
    }
    const limit = Math.min(free, this.#allowance(snap, now));
    if (limit <= 0) return;
    const budget = this.#o.budget;
    this.#claiming = true;
    this.#claimLimit = limit;
    const mark = this.#due.mark();
    const claimed = this.#o.store.claimDue(limit, budget.free, messageCost, budget.idle, now);
    // Sends under way: the claim commits without waiting for company, or they run out meanwhile.
    if (this.#live.size > 0) this.#o.store.hurry();
    claimed.then(
      ({ messages: batch, nextDueAt: due }) => {
        this.#claiming = false;
        this.#claimLimit = 0;
        this.#due.claimed(mark, batch.length < limit, due);
        for (const m of batch) {
          this.#live.add(m.seq);
          budget.reserve(messageCost(m.size, m.kind));
        }
        // Stopped meanwhile: the claimed rows return to the queue when the store closes.
        if (!this.#running) {
          for (const m of batch) {
            budget.release(messageCost(m.size, m.kind));
            this.#done(m.seq);
          }
          return;
        }
        const current = this.#snap ?? snap;
        this.#spend(current, batch.length);
        for (const m of batch) void this.#send(m, current);
        if (batch.length < limit) {
          // Fewer than asked: nothing more is due, or the byte budget is spent (a finished send
          // calls notify, so only a future due time needs a timer).
          if (due !== undefined && due > Date.now()) this.#wakeUpAt(due);
          else if (due !== undefined && this.#live.size === 0) this.#wakeUpAt(Date.now() + 100);
        } else this.notify();
      },
      (err: unknown) => {
        this.#claiming = false;
        this.#claimLimit = 0;
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
    snap.inFlight++;
    const { outcome, settled } = await sendOne(m, snap, this.#o);
    // The budget is given back when nodemailer lets go of the message, even after a time-out.
    void settled.then(() => {
      this.#o.budget.release(messageCost(m.size, m.kind));
      snap.inFlight--;
      if (snap.retired && snap.inFlight === 0) snap.transporter.close();
      this.notify();
    });
    await this.#record(m, outcome);
    this.#done(m.seq);
  }

  /** Writes an outcome, again and again while the queue refuses it (a full disk, an I/O error). */
  async #record(m: ClaimedMessage, outcome: Outcome): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        const recorded = this.#o.store.finish(m.seq, outcome);
        if (this.#busy()) this.#o.store.hurry();
        await recorded;
        break;
      } catch (err) {
        this.#o.logger.error({ err, id: m.id }, 'could not record a delivery attempt; retrying');
        // Stopped: the row returns to the queue when the store closes (sent again at worst).
        if (!this.#running) return;
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** i)));
      }
    }
    this.#o.metrics?.attempts.inc({ result: outcome.state });
    this.#o.metrics?.attemptDuration.observe({ result: outcome.state }, outcome.attempt.durationMs / 1000);
    if (outcome.state === 'deferred') {
      this.#due.moved();
      this.#wakeUpAt(outcome.nextAttemptAt);
    }
    if (outcome.state === 'abandoned')
      this.#o.logger.warn(
        { id: m.id, code: outcome.attempt.code, reason: outcome.reason },
        'message abandoned',
      );
  }

  /**
   * Whether state changes should commit without waiting for company (the group commit's state
   * window, 10 ms): a message holds its slot until its outcome is committed, and with half the
   * slots held the next claim waits on them. With the window, delivery alone ran at ~2,000 msg/s
   * with the CPU 30-45% idle; committing soon, ~3,500 msg/s CPU-bound (HTTP bench's delivery
   * tail, 10,000 messages, --max-in-flight 64). At a low rate the window still holds, so claims
   * and outcomes ride in the next message's transaction (fewer WAL pages, see group-commit.ts).
   */
  #busy(): boolean {
    return this.#live.size >= this.#o.maxInFlight / 2;
  }

  #done(seq: number): void {
    this.#live.delete(seq);
    if (this.#live.size === 0) for (const f of this.#idle.splice(0)) f();
    this.notify();
  }

  #sweep(): void {
    // What the worker knows of the queue is read again at least this often, whatever it missed.
    this.queueChanged();
    const before = Date.now() - this.#o.sendTimeoutMs - SWEEP_MARGIN_MS;
    this.#o.store.sweep(before, this.#live).then(
      (n) => {
        if (n > 0) {
          this.#o.logger.warn({ messages: n }, 'returned messages left in sending to the queue');
          this.queueChanged();
        }
      },
      (err: unknown) => this.#o.logger.error({ err }, 'could not sweep messages left in sending'),
    );
  }
}
