/**
 * The index from a Secret (`namespace/name`) to the EmailSenders that reference it, through
 * `spec.smtp.uriSecretRef`, `spec.smtp.caSecretRef` or `spec.dkim.privateKeySecretRef`, so that a created, rotated or deleted Secret
 * re-reconciles exactly those senders at once.
 *
 * @module
 */
import type { EmailSender } from '../api/emailsender.ts';

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

/** Secret → senders, kept up to date from sender add/update/delete. */
export class SecretIndex {
  readonly #bySecret = new Map<string, Set<string>>();
  readonly #bySender = new Map<string, string[]>();

  /** Records (or re-records) the references of a sender. */
  set(sender: EmailSender): void {
    const { namespace, name } = sender.metadata;
    const key = `${namespace}/${name}`;
    this.delete(key);
    const secrets = referencedSecrets(sender).map((s) => `${namespace}/${s}`);
    this.#bySender.set(key, secrets);
    for (const s of secrets) {
      const senders = this.#bySecret.get(s) ?? new Set<string>();
      this.#bySecret.set(s, senders);
      senders.add(key);
    }
  }

  /** Forgets a sender (`namespace/name`). */
  delete(senderKey: string): void {
    for (const s of this.#bySender.get(senderKey) ?? []) {
      const senders = this.#bySecret.get(s);
      senders?.delete(senderKey);
      if (senders?.size === 0) this.#bySecret.delete(s);
    }
    this.#bySender.delete(senderKey);
  }

  /** Keys of the senders that reference `namespace/secretName`. */
  sendersOf(namespace: string, secretName: string): string[] {
    return [...(this.#bySecret.get(`${namespace}/${secretName}`) ?? [])];
  }
}
