/**
 * The index from a Secret (`namespace/name`) to the EmailSenders that reference it, through
 * `spec.smtp.uriSecretRef`, `spec.smtp.caSecretRef` or `spec.dkim.privateKeySecretRef`, so that a
 * created, rotated or deleted Secret re-reconciles exactly those senders at once; and from each
 * sender's config Secret name (`<name>-mailroom`) to the sender, so that a deleted config Secret
 * is published again and a foreign one that goes away clears the conflict.
 *
 * @module
 */
import type { EmailSender } from '../api/emailsender.ts';
import { renderedSecretName } from '../api/rendered-config.ts';
import { getCondition } from './conditions.ts';
import { senderKey } from './keys.ts';
import { controllerUid, type SecretMeta } from './kube.ts';

/** Secret names a sender references, in its own namespace. */
export function referencedSecrets(sender: Pick<EmailSender, 'spec'>): string[] {
  const smtp = (
    sender.spec as { smtp?: { uriSecretRef?: { name?: string }; caSecretRef?: { name?: string } } }
  )?.smtp;
  const dkim = (sender.spec as { dkim?: { privateKeySecretRef?: { name?: string } } })?.dkim;
  const names = [smtp?.uriSecretRef?.name, smtp?.caSecretRef?.name, dkim?.privateKeySecretRef?.name].filter(
    (n): n is string => !!n,
  );
  return [...new Set(names)];
}

/** A referenced Secret (`namespace/name`, one string shared by all its senders) and its senders. */
interface Entry {
  key: string;
  senders: Set<string>;
}

/** What every config Secret's name ends with (`<sender>-mailroom`). */
const CONFIG_SUFFIX = renderedSecretName('');

/**
 * Secret → senders, kept up to date from sender add/update/delete. Sized for 10,000 senders: each
 * holds its key and references to shared entries, no strings of its own, and its config Secret is
 * found by name rather than through a map.
 */
export class SecretIndex {
  readonly #bySecret = new Map<string, Entry>();
  readonly #bySender = new Map<string, Entry[]>();

  /**
   * Records (or re-records) the references of a sender. A ClusterEmailSender's key is its name and
   * its Secrets are in `secretNamespace` (the cluster-resource namespace). `key` is the sender's
   * queue key, passed by callers that already hold it so that one string serves both.
   */
  set(
    sender: Pick<EmailSender, 'spec'> & { metadata: { namespace?: string | undefined; name: string } },
    secretNamespace = sender.metadata.namespace ?? '',
    key = senderKey(sender),
  ): void {
    const secrets = referencedSecrets(sender).map((s) => `${secretNamespace}/${s}`);
    // Most updates are our own status writes coming back: the references did not change.
    const current = this.#bySender.get(key);
    if (current?.length === secrets.length && current.every((e, i) => e.key === secrets[i])) return;
    this.delete(key);
    const entries = secrets.map((s) => {
      let entry = this.#bySecret.get(s);
      if (!entry) {
        entry = { key: s, senders: new Set() };
        this.#bySecret.set(s, entry);
      }
      entry.senders.add(key);
      return entry;
    });
    this.#bySender.set(key, entries);
  }

  /** Forgets a sender (its queue key). */
  delete(senderKey: string): void {
    for (const entry of this.#bySender.get(senderKey) ?? []) {
      entry.senders.delete(senderKey);
      if (entry.senders.size === 0) this.#bySecret.delete(entry.key);
    }
    this.#bySender.delete(senderKey);
  }

  /** Key of the EmailSender whose config Secret is `namespace/secretName`, if that sender exists. */
  configOwner(namespace: string, secretName: string): string | undefined {
    if (!secretName.endsWith(CONFIG_SUFFIX)) return undefined;
    const key = `${namespace}/${secretName.slice(0, -CONFIG_SUFFIX.length)}`;
    return this.#bySender.has(key) ? key : undefined;
  }

  /** Keys of the senders that reference `namespace/secretName`. */
  sendersOf(namespace: string, secretName: string): string[] {
    return [...(this.#bySecret.get(`${namespace}/${secretName}`)?.senders ?? [])];
  }
}

/**
 * Whether an event on `sender`'s config Secret needs the sender reconciled. A deleted one is
 * published again; one the sender does not control (a foreign Secret, created or changed) may
 * have cleared the way or blocked it; one it controls needs nothing (our own writes come back as
 * updates), unless the sender is stalled on a conflict (the foreign Secret was adopted).
 */
export function configSecretNeedsReconcile(
  type: 'add' | 'update' | 'delete',
  secret: SecretMeta,
  sender: EmailSender,
): boolean {
  if (type === 'delete' || controllerUid(secret) !== sender.metadata.uid) return true;
  return getCondition(sender.status?.conditions, 'Ready')?.reason === 'ConfigSecretConflict';
}
