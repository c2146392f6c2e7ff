/**
 * Kubernetes resource quantities (`100m`, `64Mi`, `1.5G`, `1e3`), only as far as the webhook needs:
 * to check an annotation before it reaches the pod spec and to compare a request with a limit.
 *
 * @module
 */

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+))?$/;

/**
 * The value of a quantity as a number (`64Mi` → 67108864, `100m` → 0.1), or undefined when the
 * text is not a quantity the API server would accept.
 *
 * @example
 * parseQuantity('250m'); // 0.25
 */
export function parseQuantity(text: string): number | undefined {
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[3] !== undefined) return base * 10 ** Number(m[3]);
  return base * (SUFFIX[m[2] ?? ''] ?? 1);
}
