/**
 * Event recording off the reconcile path: notes are queued and sent by a few background workers,
 * so a slow or failing events API never delays status. A bounded backlog drops (and counts) notes
 * rather than growing without limit, as client-go's broadcaster does.
 *
 * @module
 */
import type { EmailSender } from '../api/emailsender.ts';
import type { Logger } from '../runtime/logger.ts';
import type { EventNote } from './types.ts';

/** Sends one event; the real one is `RestKubeClient.createEvent`. */
export type EventSender = (sender: EmailSender, note: EventNote) => Promise<void>;

/** Queues events and sends them with bounded concurrency. */
export class EventRecorder {
  readonly #send: EventSender;
  readonly #log: Logger;
  readonly #backlog: Array<[EmailSender, EventNote]> = [];
  readonly #max: number;
  #active = 0;
  readonly #concurrency: number;
  #idle: Array<() => void> = [];
  /** Notes dropped because the backlog was full. */
  dropped = 0;
  /** Notes that failed to send. */
  failed = 0;

  constructor(send: EventSender, log: Logger, opts: { concurrency?: number; maxBacklog?: number } = {}) {
    this.#send = send;
    this.#log = log;
    this.#concurrency = opts.concurrency ?? 4;
    this.#max = opts.maxBacklog ?? 5000;
  }

  /** Queues an event; returns at once. */
  record(sender: EmailSender, note: EventNote): void {
    if (this.#backlog.length >= this.#max) {
      this.dropped++;
      return;
    }
    this.#backlog.push([sender, note]);
    this.#pump();
  }

  /** Resolves once every queued event has been sent (or failed). */
  flush(): Promise<void> {
    if (this.#active === 0 && this.#backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#backlog.length > 0) {
      const [sender, note] = this.#backlog.shift()!;
      this.#active++;
      this.#send(sender, note)
        .catch((err: unknown) => {
          this.failed++;
          this.#log.warn(
            { err, sender: `${sender.metadata.namespace}/${sender.metadata.name}`, reason: note.reason },
            'event not recorded',
          );
        })
        .finally(() => {
          this.#active--;
          this.#pump();
          if (this.#active === 0 && this.#backlog.length === 0) for (const r of this.#idle.splice(0)) r();
        });
    }
  }
}
