/**
 * What the delivery worker knows of its queue between claims: the time before which nothing in it
 * is due. A claim that came back short of its limit saw everything due; from then on, until mail may
 * have gone into the queue unseen (a message not taken at intake, a deferral, a sweep, a queue opened
 * late or salvaged), new mail may skip the queue and no claim is asked for. A claim that finds
 * nothing still costs a transaction; new mail that skips a due message would overtake it.
 *
 * @module
 */

/** The worker's view of when its queue next has something due. */
export class DueWatch {
  /** Nothing is due before this time (0: something may be due now). */
  #before = 0;
  /** Counts the times mail may have gone into the queue: a claim asked for before is stale. */
  #moves = 0;

  /** Mail may have gone into the queue unseen: something may be due now. */
  moved(): void {
    this.#before = 0;
    this.#moves++;
  }

  /** Taken when a claim is asked for; handed back to {@link DueWatch.claimed}. */
  mark(): number {
    return this.#moves;
  }

  /**
   * A claim asked for at `mark` came back. Short of its limit it saw all that is due: nothing until
   * `due` (never, when undefined), unless mail moved since it was asked for (its query may have run
   * before that mail was stored).
   */
  claimed(mark: number, short: boolean, due: number | undefined): void {
    if (short && mark === this.#moves) this.#before = due ?? Number.POSITIVE_INFINITY;
  }

  /** Whether nothing is due at `now`. */
  nothingDue(now: number): boolean {
    return this.#before > now;
  }

  /** When something next falls due, when that is known and not now; undefined otherwise. */
  get next(): number | undefined {
    return this.#before > 0 && this.#before !== Number.POSITIVE_INFINITY ? this.#before : undefined;
  }
}
