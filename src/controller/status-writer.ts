/**
 * The one place a sender's status is written: redacted of the sender's secrets, compared with
 * what the server holds, and patched only when it changed, each patch guarded by the
 * resourceVersion the previous one returned.
 *
 * @module
 */
import { canonicalJson as canonical } from '../runtime/canonical-json.ts';
import { redactSecrets } from '../runtime/redact.ts';
import type { AnySender } from './kinds.ts';
import type { SenderStatus } from './status.ts';
import type { KubeClient, SenderRef } from './types.ts';

/** The known secret values of one sender (URI, password, DKIM key); absent ones are skipped. */
export type SecretValues = () => ReadonlyArray<string | undefined>;

/** `value` with every string in it redacted of `secrets`. */
export function redactDeep<T>(value: T, secrets: ReadonlyArray<string | undefined>): T {
  if (typeof value === 'string') return redactSecrets(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, secrets)])) as T;
  }
  return value;
}

/** Writes the status of one sender during one reconcile. */
export class StatusWriter {
  readonly #kube: KubeClient;
  readonly #ref: SenderRef;
  readonly #secrets: SecretValues;
  readonly #onWrite: (() => void) | undefined;
  #written: SenderStatus | undefined;
  #resourceVersion: string | undefined;

  constructor(kube: KubeClient, sender: AnySender, secrets: SecretValues, onWrite?: () => void) {
    this.#kube = kube;
    this.#ref = { kind: sender.kind, namespace: sender.metadata.namespace, name: sender.metadata.name };
    this.#secrets = secrets;
    this.#onWrite = onWrite;
    this.#written = sender.status;
    this.#resourceVersion = sender.metadata.resourceVersion;
  }

  /** The status the server holds now (as of the informer, then of our own writes). */
  get written(): SenderStatus | undefined {
    return this.#written;
  }

  /** Redacts `status` and patches it when it differs from what the server holds. */
  async write(status: SenderStatus): Promise<void> {
    const safe = redactDeep(status, this.#secrets());
    if (canonical(safe) === canonical(this.#written)) return;
    this.#resourceVersion = await this.#kube.patchStatus(
      this.#ref,
      this.#resourceVersion,
      safe,
      this.#written,
    );
    this.#written = safe;
    this.#onWrite?.();
  }
}
