/**
 * The EmailSender controller (`mailroom controller`): informers on EmailSenders and Secrets, a work
 * queue of keys, a reconciler of ordered steps (read-uri → read-ca → read-dkim-key → render-config →
 * probe → publish-config) that writes status once when it changed, Events on transitions, leader election on a Lease.
 *
 * @example
 * const kube = await connectKube(await loadClusterAccess(), { log });
 * const controller = new Controller({ kube, probe, log });
 * await controller.start();
 * // …
 * await controller.stop();
 * await kube.close();
 *
 * @module
 */

export { type ClusterAccess, loadClusterAccess } from '../kube/kubeconfig.ts';
export { ExponentialRateLimiter, type RateLimiter } from '../kube/rate-limiter.ts';
export { type Clock, CONDITIONS, setCondition } from './conditions.ts';
export { Controller, type ControllerOptions } from './controller.ts';
export { ALL_REASONS, CONTROLLER_REASONS, type Reason, TerminalError } from './errors.ts';
export { PUBLISHED_AT_ANNOTATION, REVISION_ANNOTATION, SENDER_LABEL } from './kube.ts';
export { REQUESTED_AT } from './sync.ts';
export type { ProbeFn, ReconcileResult } from './types.ts';
