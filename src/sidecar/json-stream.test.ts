import assert from 'node:assert/strict';
import { it } from 'node:test';
import { JsonSkeleton, JsonStringDecoder, LONG_STRING } from './json-stream.ts';

/** A deterministic pseudo-random generator (the failing case is then reproducible). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const ALPHABET = [
  'a',
  'Z',
  ' ',
  'ü',
  'ж',
  '漢',
  '😀',
  '\n',
  '\t',
  '"',
  '\\',
  '/',
  '\u0001',
  '\ud800',
  '\udfff',
  'é',
];

/** A string, and its JSON text with some characters written as \u escapes (as other encoders do). */
function sample(r: () => number, n: number): { value: string; json: string } {
  let value = '';
  for (let i = 0; i < n; i++) value += ALPHABET[Math.floor(r() * ALPHABET.length)];
  let json = '';
  for (const ch of JSON.stringify(value)
    .slice(1, -1)
    .match(/\\u[0-9a-f]{4}|\\.|[\s\S]/gu) ?? []) {
    const escapable = ch.length === 1 || (ch.length === 2 && ch.codePointAt(0)! > 0xffff);
    if (!escapable || r() < 0.7) json += ch;
    else for (const unit of ch.split('')) json += `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
  return { value, json };
}

/** `bytes` in pieces of random sizes (some of one byte, to cut everything that can be cut). */
function pieces(r: () => number, bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = r() < 0.3 ? 1 : 1 + Math.floor(r() * 40);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

it('decodes a JSON string given in pieces exactly as JSON.parse decodes it whole', () => {
  const r = rng(7);
  for (let round = 0; round < 300; round++) {
    const { value, json } = sample(r, 1 + Math.floor(r() * 60));
    assert.equal(JSON.parse(`"${json}"`), value);
    const d = new JsonStringDecoder();
    let got = '';
    for (const p of pieces(r, Buffer.from(json))) got += d.write(p);
    got += d.end();
    assert.equal(got, value, `round ${round}: ${json}`);
  }
});

it('refuses what JSON.parse refuses', () => {
  for (const bad of ['a\\x', 'a\u0001b', 'a\\u12g4']) {
    const d = new JsonStringDecoder();
    assert.throws(() => d.write(Buffer.from(bad)) + d.end(), SyntaxError, bad);
  }
});

it('keeps the skeleton of a JSON text and locates its long strings, however it arrives', () => {
  const r = rng(11);
  for (let round = 0; round < 20; round++) {
    const long = sample(r, LONG_STRING / 2 + Math.floor(r() * 1000));
    const short = sample(r, 30);
    const json = `{"to":["a@example.com"],"subject":"${short.json}","text":"${long.json}","headers":{"X-A":"1"},"n":[1,2.5,true,null]}`;
    const bytes = Buffer.from(json);
    const sk = new JsonSkeleton();
    for (const p of pieces(r, bytes)) sk.write(p);
    const { text, long: found } = sk.end();
    assert.ok(sk.kept < 1000, 'the long string is not kept');
    assert.equal(found.length, 1);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.equal(parsed.text, found[0]!.placeholder);
    const d = new JsonStringDecoder();
    const value = d.write(bytes.subarray(found[0]!.start, found[0]!.end)) + d.end();
    assert.deepEqual({ ...parsed, text: value }, JSON.parse(json));
  }
});
