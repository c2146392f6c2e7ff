/**
 * The contract between the reconcile steps, the reconciler and the Kubernetes API: what a step sees,
 * what it may call, and what a reconcile returns.
 *
 * @module
 */
import type { EmailSender, EmailSenderSpec } from '../api/emailsender.ts';
import type { RenderedConfig } from '../api/rendered-config.ts';
import type { DeliverabilityReport } from '../deliverability/check.ts';
import type { DeliverabilityChecker } from '../deliverability/checker.ts';
import type { ProbeOptions as SmtpProbeOptions } from '../smtp/probe.ts';
import type { ProbeResult } from '../smtp/probe-result.ts';
import type { ParsedUri, SmtpEndpoint } from '../smtp/uri.ts';
import type { Clock } from './conditions.ts';
import type { ProbeCache } from './probe-cache.ts';

/** Options the controller passes to the probe (a subset of the probe module's). */
export type ProbeOptions = Pick<
  SmtpProbeOptions,
  'localName' | 'timeoutMs' | 'authenticate' | 'checkSender' | 'from' | 'ca' | 'signal'
>;

/** The SMTP probe: never rejects; every failure is a {@link ProbeResult} with a reason. */
export type ProbeFn = (endpoint: SmtpEndpoint, opts?: ProbeOptions) => Promise<ProbeResult>;

/** The published config Secret as status reports it. */
export interface PublishedConfig {
  secretName: string;
  revision: string;
  publishedAt: string;
}

/** An event to record (events.k8s.io/v1), before the controller fills in who and when. */
export interface EventNote {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
  action: string;
}

/** The rendered config Secret the controller writes. */
export interface ConfigSecret {
  namespace: string;
  name: string;
  owner: { name: string; uid: string };
  revision: string;
  publishedAt: string;
  /** The JSON body of `config.json`. */
  body: string;
}

/** A Secret as the reconciler reads it. */
export interface SecretData {
  /** `metadata.uid`: the key of the config revision (see `configRevision`). */
  uid: string;
  /** The decoded (UTF-8) data. */
  data: Record<string, string>;
}

/** What the reconciler needs from the API server; the real one wraps client-node, tests use a fake. */
export interface KubeClient {
  /** A Secret's uid and decoded data, or undefined when it does not exist. */
  readSecret(namespace: string, name: string): Promise<SecretData | undefined>;
  /** Creates the rendered config Secret, or replaces it when it exists. */
  writeConfigSecret(secret: ConfigSecret): Promise<void>;
  /**
   * Writes `status` through the status subresource as a merge patch from `previous` (fields that
   * went away are nulled; `conditions` is replaced whole), guarded by `resourceVersion`, so
   * `previous` is exactly what the server holds. Returns the new resourceVersion.
   */
  patchStatus(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    status: unknown,
    previous: unknown,
  ): Promise<string | undefined>;
}

/** Everything a step may use besides the state. */
export interface StepDeps {
  kube: KubeClient;
  probe: ProbeFn;
  probeCache: ProbeCache;
  clock: Clock;
  /** EHLO name when the spec gives none: the pod's host name, never "localhost". */
  localName: string;
  /** The published config as the Secret cache knows it (annotations), or undefined. */
  published(namespace: string, secretName: string): PublishedConfig | undefined;
  /** SPF/DKIM/DMARC checks for the Deliverable condition; absent: not checked. */
  checkDeliverability?: DeliverabilityChecker;
}

/** The working state of one reconcile, filled in by the steps in order. */
export interface ReconcileState {
  readonly sender: EmailSender;
  readonly spec: EmailSenderSpec;
  /** A reconcile was requested (annotation) or the generation is new: do not reuse a cached probe. */
  readonly force: boolean;
  uri?: string;
  ca?: string;
  /** PEM private key from spec.dkim.privateKeySecretRef. */
  dkimKey?: string;
  /** `metadata.uid` of each Secret read, in step order: the key of the config revision. */
  secretUids?: string[];
  parsed?: ParsedUri;
  desired?: RenderedConfig;
  probe?: ProbeResult;
  /** The probe result came from the shared cache. */
  probeShared?: boolean;
  /** When the probe finished (shared results share it). */
  probeAt?: Date;
  published?: PublishedConfig;
  /**
   * The deliverability check, started before the probe and run beside it; never rejects. Resolves
   * to undefined when the check failed (a `DeliverabilityCheckFailed` note says why).
   */
  deliverability?: Promise<DeliverabilityReport | undefined>;
  /** Events to record besides Ready transitions. */
  notes: EventNote[];
}

/** One reconcile step. Throws a `ReconcileError` to stop the chain; the first failure wins. */
export type Step = (state: ReconcileState, deps: StepDeps) => Promise<void>;

/**
 * What a reconcile returns (controller-runtime's contract): `requeueAfterMs` ⇒ a timed requeue;
 * nothing ⇒ wait for the next watch event. A thrown error ⇒ rate-limited requeue, except
 * `TerminalError` ⇒ no retry.
 */
export interface ReconcileResult {
  requeueAfterMs?: number;
  /**
   * Work still running after the status write (a slow deliverability check): when it resolves to
   * `true`, reconcile the key again at once, so its result lands without waiting for the timed
   * requeue (which the follow-up reconcile then sets anew). Never rejects.
   */
  requeueWhen?: Promise<boolean>;
}
