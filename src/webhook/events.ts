/**
 * Events for pods admitted while naming a missing EmailSender. A ReplicaSet retries and scales, so
 * one Event per sender and owner per `quietMs` is enough; the admission warning covers each create.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type EventsV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from '../runtime/logger.ts';
import type { MissingSender } from './admission.ts';

/** Reporting controller name on the webhook's Events. */
export const REPORTING_CONTROLLER = 'mailroom.dev/webhook';

/** Returns the `onMissingSender` hook: records an Event, at most one per sender and owner per `quietMs`. */
export function missingSenderEvents(
  api: EventsV1Api,
  log: Logger,
  opts: { instance: string; quietMs?: number; now?: () => number },
): (m: MissingSender) => void {
  const quietMs = opts.quietMs ?? 10 * 60_000;
  const now = opts.now ?? Date.now;
  const last = new Map<string, number>();
  return (m) => {
    const t = now();
    const key = `${m.namespace}/${m.sender}/${m.owner?.uid ?? m.pod}`;
    if ((last.get(key) ?? -Infinity) > t - quietMs) return;
    if (last.size > 10_000) for (const [k, at] of last) if (at <= t - quietMs) last.delete(k);
    last.set(key, t);
    const regarding = m.owner
      ? {
          apiVersion: m.owner.apiVersion,
          kind: m.owner.kind,
          name: m.owner.name,
          uid: m.owner.uid,
          namespace: m.namespace,
        }
      : { apiVersion: 'v1', kind: 'Pod', name: m.pod, namespace: m.namespace };
    api
      .createNamespacedEvent({
        namespace: m.namespace,
        body: {
          metadata: { name: `mailroom-sender.${randomBytes(8).toString('hex')}`, namespace: m.namespace },
          // The API wants microseconds here; a plain Date serializes with milliseconds and is refused.
          eventTime: new V1MicroTime(t),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: opts.instance,
          action: 'Inject',
          reason: 'SenderNotFound',
          type: 'Warning',
          note: `pod ${m.pod} names EmailSender "${m.sender}" (annotation mailroom.dev/sender), which does not exist in namespace "${m.namespace}"; its sender sidecar stays unready until it does`,
          regarding,
        },
      })
      .catch((err: unknown) =>
        log.warn({ err, sender: `${m.namespace}/${m.sender}` }, 'could not record an Event'),
      );
  };
}
