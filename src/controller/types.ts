/**
 * The contract between the reconcile steps, the reconciler and the Kubernetes API: what a step sees,
 * what it may call, and what a reconcile returns.
 *
 * @module
 */
import type { ClusterEmailSender } from '../api/clusteremailsender.ts';
import type { EmailSender, EmailSenderSpec } from '../api/emailsender.ts';
import type { LabelSelector } from '../api/label-selector.ts';
import type { RenderedConfig } from '../api/rendered-config.ts';
import type { SmtpUri } from '../api/secret-values.ts';
import type { DeliverabilityReport } from '../deliverability/check.ts';
import type { DeliverabilityChecker } from '../deliverability/checker.ts';
import type { EventNote as KubeEventNote } from '../kube/events.ts';
import type { SecretData } from '../kube/secrets.ts';
import type { ProbeResult } from '../smtp/probe-result.ts';
import type { ClusterTargets } from './cluster-consumers.ts';
import type { Clock } from './conditions.ts';
import type { ProbeCache, ProbeFn } from './probe-cache.ts';

// Declared beside the cache that keys on them; re-exported here, so the import runs one way only.
export type { ProbeFn, ProbeOptions } from './probe-cache.ts';

/** The published config Secret as status reports it. */
export interface PublishedConfig {
  secretName: string;
  revision: string;
  publishedAt: string;
}

/** An event to record (events.k8s.io/v1), before the controller fills in who and when. */
export interface EventNote extends KubeEventNote {
  /**
   * Folded into the note of a `Ready` transition event of the same reconcile, when there is one,
   * rather than recorded on its own (one event per change, not two).
   */
  ridesAlong?: boolean;
}

/**
 * How a config Secret write ended: written, or refused because a Secret of that name exists and is
 * not controlled by the sender (`heldBy` names its controller, when it has one).
 */
export type ConfigSecretWrite = { written: true } | { written: false; heldBy?: string };

/** The rendered config Secret the controller writes. */
export interface ConfigSecret {
  namespace: string;
  name: string;
  /** The sender it belongs to; `kind` absent: an EmailSender. */
  owner: { name: string; uid: string; kind?: 'ClusterEmailSender' };
  revision: string;
  publishedAt: string;
  /** The JSON body of `config.json`. */
  body: string;
}

// A Secret as the reconciler reads it; its `uid` is the key of the config revision (see `configRevision`).
export type { SecretData };

/** What the reconciler needs from the API server; the real one wraps client-node, tests use a fake. */
export interface KubeClient {
  /** A Secret's uid and decoded data, or undefined when it does not exist. */
  readSecret(namespace: string, name: string): Promise<SecretData | undefined>;
  /**
   * Creates the rendered config Secret, or replaces it when it exists and its controller owner
   * reference is `secret.owner`. A Secret of that name that the sender does not control is left
   * untouched: `{ written: false }`.
   */
  writeConfigSecret(secret: ConfigSecret): Promise<ConfigSecretWrite>;
  /** Deletes a ClusterEmailSender's config copy; one already gone is no error. */
  deleteConfigSecret(namespace: string, name: string): Promise<void>;
  /**
   * Writes `status` through the status subresource as a merge patch from `previous` (fields that
   * went away are nulled; `conditions` is replaced whole), guarded by `resourceVersion`, so
   * `previous` is exactly what the server holds. Returns the new resourceVersion.
   */
  patchStatus(
    sender: SenderRef,
    resourceVersion: string | undefined,
    status: unknown,
    previous: unknown,
  ): Promise<string | undefined>;
}

/** Which sender a status patch is for: an EmailSender (`namespace`) or a ClusterEmailSender. */
export interface SenderRef {
  kind: 'EmailSender' | 'ClusterEmailSender';
  /** Absent for a ClusterEmailSender. */
  namespace?: string | undefined;
  name: string;
}

/** What a ClusterEmailSender's steps read from the caches. */
export interface ClusterDeps {
  /** Where the config of sender `name` with `selector` belongs now. */
  targets(name: string, selector: LabelSelector | undefined): ClusterTargets;
  /** The copies of its config that exist (Mailroom's, by the Secret cache), by namespace. */
  copies(name: string): ReadonlyMap<string, PublishedConfig>;
  /** Whether a Secret of that name exists in `namespace` and is not a copy Mailroom published. */
  foreign(namespace: string, secretName: string): boolean;
}

/** Everything a step may use besides the state. */
export interface StepDeps {
  kube: KubeClient;
  probe: ProbeFn;
  probeCache: ProbeCache;
  clock: Clock;
  /** EHLO name when the spec gives none: the pod's host name, never "localhost". */
  localName: string;
  /**
   * The resourceVersion of a Secret as the Secret cache knows it: a rejected login is held until
   * the Secret its credentials came from changes. Absent: held for the probe interval.
   */
  secretVersion?(namespace: string, name: string): string | undefined;
  /**
   * The config published in `secretName` as the Secret cache knows it (annotations), when that
   * Secret is controlled by `ownerUid`; else undefined.
   */
  published(namespace: string, secretName: string, ownerUid: string): PublishedConfig | undefined;
  /** SPF/DKIM/DMARC checks for the Deliverable condition; absent: not checked. */
  checkDeliverability?: DeliverabilityChecker;
  /** Present when ClusterEmailSenders are reconciled. */
  cluster?: ClusterDeps;
}

/** The working state of one reconcile, filled in by the steps in order. */
export interface ReconcileState {
  readonly sender: EmailSender | ClusterEmailSender;
  /** The spec as parsed (a ClusterEmailSender's holds `namespaceSelector` besides). */
  readonly spec: EmailSenderSpec;
  /** The one namespace the sender's Secrets are read from (see `SenderKind.secretNamespace`). */
  readonly secretNamespace: string;
  /** A reconcile was requested (annotation) or the generation is new: do not reuse a cached probe. */
  readonly force: boolean;
  uri?: string;
  ca?: string;
  /** PEM private key from spec.dkim.privateKeySecretRef. */
  dkimKey?: string;
  /** `metadata.uid` of each Secret read, in step order: the key of the config revision. */
  secretUids?: string[];
  /** The URI, parsed once as it was read. */
  parsed?: SmtpUri;
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
  /** ClusterEmailSender: where its config belongs now. */
  targets?: ClusterTargets;
  /** ClusterEmailSender: the namespaces that hold its config after this reconcile. */
  namespaces?: string[];
}

/** One reconcile step. Throws a `ReconcileError` to stop the chain; the first failure wins. */
export type Step = (state: ReconcileState, deps: StepDeps) => Promise<void>;

/**
 * A step as the reconcile loop runs it: its name (in logs and API-error messages), the function,
 * and the hooks it asks for. The loop knows no step by name; a step that needs a hook declares it.
 */
export interface ReconcileStep {
  readonly name: string;
  readonly run: Step;
  /**
   * The step may take seconds (it talks to a remote server): when it runs for a new generation and
   * has not finished after `progressDelayMs`, `Reconciling=True` is written first.
   */
  readonly reportsProgress?: boolean;
  /**
   * The spec field naming the one Secret the step reads, for a step that only reads and checks
   * input: `mailroom validate` runs such steps offline and names this field in its findings.
   */
  readonly reads?: string;
}

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
