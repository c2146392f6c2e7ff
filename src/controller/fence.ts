/**
 * Fencing for leader election: a replica that lost its Lease must stop changing the cluster at
 * once, not after its in-flight reconciles drain. Its writes go through a fence that refuses them
 * as soon as it no longer acts as leader; reads stay open.
 *
 * @module
 */
import type { KubeClient } from './types.ts';

/** A write refused because this replica no longer acts as leader. */
export class NotLeaderError extends Error {
  constructor(what: string) {
    super(`${what} not written: this replica is not the leader`);
    this.name = 'NotLeaderError';
  }
}

/** `kube` with its writes refused whenever `acting()` is false. */
export function fenceWrites(kube: KubeClient, acting: () => boolean): KubeClient {
  const guard = (what: string) => {
    if (!acting()) throw new NotLeaderError(what);
  };
  return {
    readSecret: (namespace, name) => kube.readSecret(namespace, name),
    writeConfigSecret: async (secret) => {
      guard('config Secret');
      return kube.writeConfigSecret(secret);
    },
    deleteConfigSecret: async (namespace, name) => {
      guard('config Secret');
      return kube.deleteConfigSecret(namespace, name);
    },
    patchStatus: async (sender, resourceVersion, status, previous) => {
      guard('status');
      return kube.patchStatus(sender, resourceVersion, status, previous);
    },
  };
}
