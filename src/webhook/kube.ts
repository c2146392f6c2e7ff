/**
 * Small helpers shared by the webhook's modules.
 *
 * @module
 */
import { KubeApiError } from '../kube/rest.ts';

/** HTTP status of a failed API call, 0 for a transport failure. */
export function statusOf(err: unknown): number {
  return err instanceof KubeApiError ? err.status : 0;
}

/** Base64 of a UTF-8 string, as Secret `data` and `caBundle` want it. */
export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** UTF-8 of a base64 string (absent → undefined). */
export const unb64 = (text: string | undefined): string | undefined =>
  text === undefined ? undefined : Buffer.from(text, 'base64').toString('utf8');

/** Runs `fn` until it succeeds or `signal` aborts, with exponential backoff from 500 ms to 30 s. */
export async function withBackoff<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  onError: (err: unknown) => void,
): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) throw err;
      onError(err);
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
}
