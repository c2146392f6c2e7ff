/**
 * Step 3: probe the server as sending will use it, sharing the result with every sender that has
 * the same endpoint, credentials and options inside one interval.
 *
 * @module
 */
import { parseDuration } from '../../api/duration.ts';
import { RetryError, StalledError } from '../errors.ts';
import { probeKey } from '../probe-cache.ts';
import type { ProbeOptions, Step } from '../types.ts';

/** Probes `state.parsed` into `state.probe`; a failed probe throws with the probe's reason. */
export const probe: Step = async (state, deps) => {
  const parsed = state.parsed;
  if (!parsed) throw new Error('probe step needs a parsed URI');
  const { spec } = state;
  const opts: ProbeOptions = {
    localName: spec.smtp.localName ?? deps.localName,
    timeoutMs: parseDuration(spec.probe.timeout) ?? 10_000,
    authenticate: spec.probe.authenticate,
    checkSender: spec.probe.checkSender,
    from: spec.from.address,
    ...(state.ca ? { ca: state.ca } : {}),
  };
  const intervalMs = parseDuration(spec.probe.interval) ?? 600_000;
  const { result, shared, at } = await deps.probeCache.get(
    probeKey(parsed.endpoint, opts),
    // Half an interval: a sender requeued after one interval (±10%) always gets a fresh probe,
    // while senders that start together share one.
    { maxAgeMs: intervalMs / 2, force: state.force },
    () => deps.probe(parsed.endpoint, opts),
  );
  state.probe = result;
  state.probeShared = shared;
  state.probeAt = at;
  if (result.ok) return;
  if (result.reason === 'InvalidURI') throw new StalledError(result.reason, result.message);
  throw new RetryError(result.reason, result.message);
};
