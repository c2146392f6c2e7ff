/**
 * JSON read in pieces, for message bodies near the size limit: {@link JsonSkeleton} keeps a JSON
 * text without the contents of its long strings (each replaced by a placeholder, its bytes located
 * in the text), so the message is parsed and validated without ever being one string; and
 * {@link JsonStringDecoder} decodes a long string's bytes piece by piece, to hash or send it.
 *
 * `JSON.parse` of the whole body would hold the body three times (bytes, text, parsed strings);
 * this holds the skeleton (addresses, subject, headers: small) and a piece of a long string.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Strings with more bytes than this are left out of a skeleton. */
export const LONG_STRING = 64 * 1024;

/** Where a long string left out of a skeleton lies in the JSON text: the bytes between its quotes. */
export interface LongString {
  /** The placeholder string that stands for it in the skeleton. */
  placeholder: string;
  start: number;
  end: number;
}

/** A JSON text without its long strings; see the module comment. */
export interface Skeleton {
  /** The JSON text with each long string replaced by its placeholder (parse it with JSON.parse). */
  text: string;
  long: LongString[];
}

/** Reads a JSON text as it arrives and keeps its skeleton. Does not check the syntax: JSON.parse of the skeleton does. */
export class JsonSkeleton {
  readonly #out: Buffer[] = [];
  #kept = 0;
  /** Bytes of the text seen before the current chunk. */
  #offset = 0;
  #inString = false;
  #escape = false;
  #strStart = 0;
  #str: Buffer[] = [];
  #strLen = 0;
  readonly #long: LongString[] = [];
  // node:crypto loads with the first message, not at start (see store-intake.ts).
  readonly #nonce = process.getBuiltinModule('node:crypto').randomUUID();
  readonly #onLong: ((index: number, bytes: Buffer | undefined) => void) | undefined;

  /**
   * `onLong`, when given, is told the bytes of each long string as they pass (its index among the
   * long strings, then `undefined` at its end), to decode them without reading them again.
   */
  constructor(onLong?: (index: number, bytes: Buffer | undefined) => void) {
    this.#onLong = onLong;
  }

  /** Bytes kept (skeleton and the string being read while it is short). */
  get kept(): number {
    return this.#kept + this.#strLen;
  }

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.#inString) {
        const q = chunk.indexOf(QUOTE, i);
        const stop = q < 0 ? chunk.length : q;
        this.#keep(chunk.subarray(i, stop));
        if (q < 0) break;
        this.#inString = true;
        this.#escape = false;
        this.#strStart = this.#offset + q + 1;
        this.#str = [];
        this.#strLen = 0;
        i = q + 1;
        continue;
      }
      let j = i;
      let escaped = this.#escape;
      for (; j < chunk.length; j++) {
        const b = chunk[j]!;
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) break;
      }
      this.#escape = escaped;
      this.#content(chunk.subarray(i, j));
      if (j === chunk.length) break;
      this.#endString(this.#offset + j);
      i = j + 1;
    }
    this.#offset += chunk.length;
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    // A copy: a view would keep the whole chunk it came in alive.
    this.#out.push(Buffer.from(bytes));
    this.#kept += bytes.length;
  }

  #content(bytes: Buffer): void {
    if (this.#strLen > LONG_STRING) {
      if (bytes.length > 0) this.#onLong?.(this.#long.length, bytes);
      return;
    }
    this.#str.push(Buffer.from(bytes));
    this.#strLen += bytes.length;
    if (this.#strLen > LONG_STRING) {
      if (this.#onLong) for (const b of this.#str) this.#onLong(this.#long.length, b);
      this.#str = [];
      this.#strLen = LONG_STRING + 1;
    }
  }

  #endString(end: number): void {
    this.#inString = false;
    if (this.#strLen > LONG_STRING) {
      this.#onLong?.(this.#long.length, undefined);
      const placeholder = `\u0000${this.#nonce}:${this.#long.length}`;
      this.#long.push({ placeholder, start: this.#strStart, end });
      this.#keep(Buffer.from(JSON.stringify(placeholder)));
    } else {
      this.#keep(Buffer.from('"'));
      for (const b of this.#str) this.#keep(b);
      this.#keep(Buffer.from('"'));
    }
    this.#str = [];
    this.#strLen = 0;
  }

  /** The skeleton of everything written. An unterminated string is kept as it is (JSON.parse then fails). */
  end(): Skeleton {
    if (this.#inString) {
      this.#keep(Buffer.from('"'));
      for (const b of this.#str) this.#keep(b);
    }
    return { text: Buffer.concat(this.#out, this.#kept).toString('utf8'), long: this.#long };
  }
}

/**
 * Decodes the bytes of a JSON string (between its quotes, escapes and all) given in pieces. Each
 * call decodes up to the last point where no UTF-8 sequence, escape or surrogate pair is cut, and
 * keeps the rest for the next: the text is the same as `JSON.parse` of the whole string gives.
 * Throws a SyntaxError where `JSON.parse` would (a bad escape, a raw control character).
 */
export class JsonStringDecoder {
  #carry: Buffer | undefined;

  /** The text of the bytes so far, but for a few held back until the next piece. */
  write(bytes: Buffer): string {
    let text = '';
    let rest = bytes;
    if (this.#carry) {
      // The bytes held back and the first few new ones decode together (a small copy, not a big one).
      const bridge = Buffer.concat([this.#carry, bytes.subarray(0, BRIDGE)]);
      const cut = safeCut(bridge);
      if (cut < this.#carry.length || bytes.length <= BRIDGE) {
        // No place to cut past the bytes held back (or little new): all of it together.
        const all = bytes.length <= BRIDGE ? bridge : Buffer.concat([this.#carry, bytes]);
        this.#carry = undefined;
        return this.#tail(all);
      }
      text = decode(bridge.subarray(0, cut));
      rest = bytes.subarray(cut - this.#carry.length);
      this.#carry = undefined;
    }
    return text + this.#tail(rest);
  }

  /** Decodes `b` up to its last safe place and holds back the rest. */
  #tail(b: Buffer): string {
    const cut = safeCut(b);
    this.#carry = cut < b.length ? Buffer.from(b.subarray(cut)) : undefined;
    return decode(b.subarray(0, cut));
  }

  /**
   * The text of `bytes` in pieces of at most {@link PIECE} bytes each: small strings, which the
   * young generation collects at once, rather than one string as long as a payload part.
   */
  *pieces(bytes: Buffer): Generator<string> {
    for (let at = 0; at < bytes.length; at += PIECE) yield this.write(bytes.subarray(at, at + PIECE));
  }

  /** The text of what was held back. */
  end(): string {
    const rest = this.#carry;
    this.#carry = undefined;
    return rest ? decode(rest) : '';
  }
}

/** Bytes decoded at once by {@link JsonStringDecoder.pieces}. */
export const PIECE = 64 * 1024;

/** New bytes decoded with those held back: enough to end any escape or UTF-8 sequence they hold. */
const BRIDGE = 16;

function decode(bytes: Buffer): string {
  if (bytes.length === 0) return '';
  return JSON.parse(`"${bytes.toString('utf8')}"`) as string;
}

/**
 * The last offset in `b` (never its end: the character there may go on in the next piece) before
 * which nothing is cut: not inside an escape, not between the two escapes of a surrogate pair, and
 * at the start of a UTF-8 sequence.
 */
function safeCut(b: Buffer): number {
  let safe = 0;
  // 0: plain text; 1: after a backslash; 2 to 5: reading the hex digits of \u.
  let state = 0;
  let hex = 0;
  // The last escape was a high surrogate: a cut before the next escape would part a pair.
  let highPending = false;
  let escStart = 0;
  const ended = (value: number | undefined) => {
    state = 0;
    const low = value !== undefined && value >= 0xdc00 && value <= 0xdfff;
    // After a lone high surrogate, the escape that follows was a safe place after all.
    if (highPending && !low) safe = escStart;
    highPending = value !== undefined && value >= 0xd800 && value <= 0xdbff;
  };
  for (let p = 0; p < b.length; p++) {
    const c = b[p]!;
    if (state === 0) {
      if (c === BACKSLASH) {
        if (!highPending) safe = p;
        escStart = p;
        state = 1;
      } else {
        if (c < 0x80 || c >= 0xc0) safe = p;
        highPending = false;
      }
    } else if (state === 1) {
      if (c === 0x75 /* u */) {
        state = 2;
        hex = 0;
      } else ended(undefined);
    } else {
      hex = hex * 16 + Number.parseInt(String.fromCharCode(c), 16);
      if (++state === 6) ended(hex);
    }
  }
  // No place to cut in a long run: bytes that are no UTF-8 (each becomes U+FFFD wherever it is cut).
  if (safe === 0 && b.length > 1024 && state === 0 && !highPending) return b.length - 4;
  return safe;
}
