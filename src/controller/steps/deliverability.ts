/**
 * Step 2b: start the deliverability check (SPF, DKIM, DMARC of the From domain) for the
 * `Deliverable` condition. It runs beside the probe and never fails the reconcile: `Ready` says
 * whether the server takes mail, `Deliverable` whether receivers will, and a DNS outage must not
 * turn a working sender not-Ready, nor delay it: `sync.ts` waits for the result only briefly
 * (`deliverabilityWaitMs`); a check still running then lands on a follow-up reconcile, the report
 * kept by the checker per sender, while `Deliverable` keeps its previous value.
 *
 * @module
 */
import { senderKey } from '../keys.ts';
import type { Step } from '../types.ts';

/** Sets `state.deliverability` (a promise that never rejects) when a checker is configured. */
export const deliverability: Step = async (state, deps) => {
  const check = deps.checkDeliverability;
  if (!check || !state.parsed) return;
  const { spec, sender } = state;
  const dkim = state.desired?.dkim;
  const intervalMs = spec.probe.intervalMs;
  state.deliverability = check(
    senderKey(sender),
    { from: spec.from.address, serverHost: state.parsed.endpoint.host, ...(dkim ? { dkim } : {}) },
    // Re-checked on the probe interval (half of it, as the probe cache does, so the timed requeue
    // always finds the report stale); DNS answers themselves are cached by TTL in the resolver.
    { maxAgeMs: intervalMs / 2, force: state.force },
  ).catch((err: unknown) => {
    state.notes.push({
      type: 'Warning',
      reason: 'DeliverabilityCheckFailed',
      action: 'CheckDNS',
      note: `deliverability not checked: ${(err as Error).message}`,
    });
    return undefined;
  });
};
