/**
 * The controller's input steps run without a cluster, for `mailroom validate`: the sender's Secrets
 * come from a manifest set rather than the API server, and each step that reads one runs as the
 * reconcile runs it (`runSteps`), so a finding carries the very reason and message the sender's
 * `Ready` condition would. Nothing here probes, writes or talks to a server.
 *
 * @module
 */
import type { EmailSenderSpec } from '../api/emailsender.ts';
import type { SecretData } from '../kube/secrets.ts';
import { systemClock } from './conditions.ts';
import type { AnySender, SenderKind } from './kinds.ts';
import { ProbeCache } from './probe-cache.ts';
import { runSteps, StepFailure } from './run-steps.ts';
import type { Outcome } from './status.ts';
import { INPUT_STEPS } from './steps/index.ts';
import type { KubeClient, ReconcileState, ReconcileStep, StepDeps } from './types.ts';

/** A Secret the manifest set does not hold: its step is not checked (the cluster may well have it). */
export class SecretNotInSet extends Error {
  readonly secretName: string;
  constructor(secretName: string) {
    super(`Secret ${secretName} is not among the manifests`);
    this.name = 'SecretNotInSet';
    this.secretName = secretName;
  }
}

/**
 * The Secrets of a manifest set: the Secret `name` in `namespace` as the API server would return it,
 * or undefined when the set has none. May throw (an error fit for the user) when the manifest
 * could never be applied, e.g. data that is not base64.
 */
export type SecretSource = (namespace: string, name: string) => SecretData | undefined;

/** How one input step ended offline. */
export type InputCheck =
  | { step: ReconcileStep; result: 'passed' }
  | { step: ReconcileStep; result: 'failed'; outcome: Exclude<Outcome, { kind: 'ready' | 'progressing' }> }
  | { step: ReconcileStep; result: 'not-in-set'; secretName: string }
  | { step: ReconcileStep; result: 'unreadable'; message: string };

/** What {@link checkInputs} found: each input step's end, and the state they filled in. */
export interface InputReport {
  checks: InputCheck[];
  /** `parsed` (the URI), `ca`, `dkimKey`, as far as the Secrets in the set allowed. */
  state: ReconcileState;
}

const refuse = (what: string) => () => {
  throw new Error(`${what} is not available offline`);
};

/** The dependencies of an offline run: Secrets from the set; anything else refuses. */
function offlineDeps(secrets: SecretSource): StepDeps {
  const kube: KubeClient = {
    readSecret: async (namespace, name) => {
      const secret = secrets(namespace, name);
      if (!secret) throw new SecretNotInSet(name);
      return secret;
    },
    writeConfigSecret: refuse('writing Secrets'),
    deleteConfigSecret: refuse('deleting Secrets'),
    patchStatus: refuse('writing status'),
  };
  return {
    kube,
    probe: refuse('probing'),
    probeCache: new ProbeCache(systemClock),
    clock: systemClock,
    localName: 'mailroom-validate',
    published: () => undefined,
  };
}

/**
 * Runs the controller's input steps ({@link INPUT_STEPS}) on one sender whose spec already parsed,
 * each on its own (they need no step before them), so a Secret missing from the set skips only the
 * check of that Secret and one failure does not hide the next.
 *
 * @example
 * const { checks } = await checkInputs(EMAIL_SENDERS, sender, spec, (ns, name) => fromManifests(ns, name));
 */
export async function checkInputs(
  kind: SenderKind,
  sender: AnySender,
  spec: EmailSenderSpec,
  secrets: SecretSource,
): Promise<InputReport> {
  const deps = offlineDeps(secrets);
  const state: ReconcileState = {
    sender,
    spec,
    force: true,
    notes: [],
    secretNamespace: kind.secretNamespace(sender),
  };
  const checks: InputCheck[] = [];
  for (const step of INPUT_STEPS) {
    try {
      const outcome = await runSteps([step], state, deps, { delayMs: 0 });
      if (outcome.kind === 'ready' || outcome.kind === 'progressing') checks.push({ step, result: 'passed' });
      else checks.push({ step, result: 'failed', outcome });
    } catch (err) {
      const cause = err instanceof StepFailure ? err.cause : err;
      if (cause instanceof SecretNotInSet)
        checks.push({ step, result: 'not-in-set', secretName: cause.secretName });
      else if (cause instanceof SecretManifestError)
        checks.push({ step, result: 'unreadable', message: cause.message });
      else throw err;
    }
  }
  return { checks, state };
}

/** A Secret manifest the API server would refuse (data that is not base64): its message is for people. */
export class SecretManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretManifestError';
  }
}
