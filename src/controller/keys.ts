/**
 * Queue keys of senders, as controller-runtime writes them: `namespace/name` for an EmailSender,
 * `name` for a cluster-scoped ClusterEmailSender (a name holds no "/"). Imports nothing, so every
 * module can use it without an import cycle.
 *
 * @module
 */

/** The queue key of a sender. */
export const senderKey = (s: { metadata: { namespace?: string | undefined; name: string } }): string =>
  s.metadata.namespace ? `${s.metadata.namespace}/${s.metadata.name}` : s.metadata.name;

/** A queue key's namespace (empty for a ClusterEmailSender) and name. */
export function parseSenderKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: '', name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
