/**
 * The header block of a raw message read as it arrives, by the SMTP door (to check it and read its
 * Subject while the rest streams into the queue) and by the sender (to rewrite it).
 *
 * @module
 */

/**
 * The header block of a raw message read as it arrives: the bytes up to and including the first
 * blank line (CRLF CRLF or LF LF, whichever comes first), which {@link splitRawMessage} splits as
 * it would split the whole message. Without a blank line the whole message is its header block.
 */
export class HeaderBlock {
  #chunks: Buffer[] = [];
  #held = 0;
  #end = -1;

  /** Whether the blank line has been seen. */
  get done(): boolean {
    return this.#end >= 0;
  }

  /** Bytes held. */
  get held(): number {
    return this.#held;
  }

  /** Takes the next bytes of the message (ignored once the blank line was seen). */
  add(chunk: Buffer): void {
    if (this.done) return;
    // The separator may straddle chunks: search from 3 bytes back.
    const from = Math.max(0, this.#held - 3);
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    const tail = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#tailChunks(from));
    const crlf = tail.indexOf('\r\n\r\n');
    const lf = tail.indexOf('\n\n');
    const at = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
    if (at < 0) return;
    const base = this.#chunks.length === 1 ? 0 : from;
    this.#end = base + at;
    // In one chunk (the usual small message), a view of it: the chunk is held by the queue's
    // writer anyway, and copying it cost 0.5 KiB a message (V8 heap profile, SMTP door).
    const all =
      this.#chunks.length === 1
        ? chunk.subarray(0, this.#end)
        : Buffer.concat(this.#chunks, this.#held).subarray(0, this.#end);
    this.#chunks = [all];
    this.#held = all.length;
  }

  /** The chunks that hold bytes from `from` on, the first cut to start there. */
  #tailChunks(from: number): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    for (const c of this.#chunks) {
      if (at + c.length > from) out.push(at >= from ? c : c.subarray(from - at));
      at += c.length;
    }
    return out;
  }

  /** The header block (with its blank line), or everything held when there was none. */
  block(): Buffer {
    return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#held);
  }

  /** Lets go of what is held. */
  drop(): void {
    this.#chunks = [];
    this.#held = 0;
  }
}
