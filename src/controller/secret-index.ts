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

/** Secret → senders, kept up to date from sender add/update/delete. */
export class SecretIndex {
  readonly #bySecret = new Map<string, Set<string>>();
  readonly #bySender = new Map<string, string[]>();
  readonly #byConfig = new Map<string, string>();

  /**
   * Records (or re-records) the references of a sender. A ClusterEmailSender's key is its name and
   * its Secrets are in `secretNamespace` (the cluster-resource namespace).
   */
  set(
    sender: Pick<EmailSender, 'spec'> & { metadata: { namespace?: string | undefined; name: string } },
    secretNamespace = sender.metadata.namespace ?? '',
  ): void {
    const key = senderKey(sender);
    this.delete(key);
    const secrets = referencedSecrets(sender).map((s) => `${secretNamespace}/${s}`);
    this.#bySender.set(key, secrets);
    // An EmailSender's own config Secret (a ClusterEmailSender's copies are tracked by ClusterSenders).
    const { namespace, name } = sender.metadata;
    if (namespace) this.#byConfig.set(`${namespace}/${renderedSecretName(name)}`, key);
    for (const s of secrets) {
      const senders = this.#bySecret.get(s) ?? new Set<string>();
      this.#bySecret.set(s, senders);
      senders.add(key);
    }
  }

  /** Forgets a sender (its queue key). */
  delete(senderKey: string): void {
    for (const s of this.#bySender.get(senderKey) ?? []) {
      const senders = this.#bySecret.get(s);
      senders?.delete(senderKey);
      if (senders?.size === 0) this.#bySecret.delete(s);
    }
    this.#bySender.delete(senderKey);
    const slash = senderKey.indexOf('/');
    const config = `${senderKey.slice(0, slash)}/${renderedSecretName(senderKey.slice(slash + 1))}`;
    if (this.#byConfig.get(config) === senderKey) this.#byConfig.delete(config);
  }

  /** Key of the sender whose config Secret is `namespace/secretName`, if that sender exists. */
  configOwner(namespace: string, secretName: string): string | undefined {
    return this.#byConfig.get(`${namespace}/${secretName}`);
  }

  /** Keys of the senders that reference `namespace/secretName`. */
  sendersOf(namespace: string, secretName: string): string[] {
    return [...(this.#bySecret.get(`${namespace}/${secretName}`) ?? [])];
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
