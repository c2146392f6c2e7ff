/**
 * Step 3: probe the server as sending will use it, sharing the result with every sender that has
 * the same endpoint, credentials and options inside one interval. A login the server rejected is
 * not tried again before the probe interval, by any sender with those credentials, unless the
 * Secret they come from changes (see `probe-cache.ts`).
 *
 * @module
 */
import { RetryError, StalledError, WaitError } from '../errors.ts';
import { credentialsKey, isRejectedLogin, probeKey } from '../probe-cache.ts';
import type { ProbeOptions, Step } from '../types.ts';

/** Probes `state.parsed` into `state.probe`; a failed probe throws with the probe's reason. */
export const probe: Step = async (state, deps) => {
  const parsed = state.parsed;
  if (!parsed) throw new Error('probe step needs a parsed URI');
  const { spec } = state;
  const opts: ProbeOptions = {
    localName: spec.smtp.localName ?? deps.localName,
    timeoutMs: spec.probe.timeoutMs,
    authenticate: spec.probe.authenticate,
    checkSender: spec.probe.checkSender,
    from: spec.from.address,
    ...(state.ca ? { ca: state.ca } : {}),
  };
  const intervalMs = spec.probe.intervalMs;
  const ref = spec.smtp.uriSecretRef.name;
  const version = deps.secretVersion?.(state.secretNamespace, ref);
  const credentials = credentialsKey(parsed.endpoint);
  const { result, shared, at } = await deps.probeCache.get(
    probeKey(parsed.endpoint, opts),
    {
      // Half an interval: a sender requeued after one interval (±10%) always gets a fresh probe,
      // while senders that start together share one.
      maxAgeMs: intervalMs / 2,
      force: state.force,
      ...(credentials ? { credentials } : {}),
      // The requeue after a rejected login comes at the interval ±10%: its probe logs in again.
      rejectedLoginMaxAgeMs: intervalMs * 0.9,
      ...(version ? { sources: { [`${state.secretNamespace}/${ref}`]: version } } : {}),
    },
    () => deps.probe(parsed.endpoint, opts),
  );
  state.probe = result;
  state.probeShared = shared;
  state.probeAt = at;
  if (result.ok) return;
  if (result.reason === 'InvalidURI') throw new StalledError(result.reason, result.message);
  if (isRejectedLogin(result)) throw new WaitError(result.reason, result.message, intervalMs);
  throw new RetryError(result.reason, result.message);
};
