/**
 * One AdmissionReview in, one out: decides whether a pod gets the sender, and with which warnings.
 *
 * The webhook configuration sends only annotated pod CREATEs here (see `registration.ts`), but this
 * handler checks everything again: a wider configuration (an old one, a hand-edited one) must still
 * leave every other object untouched.
 *
 * @module
 */
import type { V1Pod } from '@kubernetes/client-node';
import { SENDER_ANNOTATION } from './constants.ts';
import { planInjection } from './inject.ts';

/** The parts of an `admission.k8s.io/v1` AdmissionReview request the webhook reads. */
export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  dryRun?: boolean;
  object?: V1Pod;
}

/** The AdmissionReview response body. */
export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    status?: { code: number; reason?: string; message: string };
  };
}

/** A pod that names a sender that does not exist, reported for an Event. */
export interface MissingSender {
  namespace: string;
  sender: string;
  /** Pod name, or `generateName` followed by `*` when the name is not chosen yet. */
  pod: string;
  /** The pod's controller (ReplicaSet, Job, …), which outlives the pod and is a better Event subject. */
  owner?: { apiVersion: string; kind: string; name: string; uid: string };
}

/** What the handler needs from the rest of the webhook. */
export interface AdmissionDeps {
  image: string;
  imagePullPolicy?: string;
  /** Reject pods naming a missing sender instead of admitting them with a warning. */
  strict: boolean;
  /** Whether the EmailSender exists; cached, with a live read on a miss. */
  senderExists(namespace: string, name: string): Promise<boolean>;
  /** Called (not awaited) for a pod admitted despite a missing sender; never on a dry run. */
  onMissingSender?(info: MissingSender): void;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// `<name>-mailroom` must itself be a valid Secret name.
const MAX_SENDER_NAME = 253 - '-mailroom'.length;

const reply = (
  uid: string,
  rest: Partial<AdmissionReviewResponse['response']> = {},
): AdmissionReviewResponse => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid, allowed: true, ...rest },
});

const deny = (uid: string, message: string): AdmissionReviewResponse =>
  reply(uid, { allowed: false, status: { code: 403, reason: 'Forbidden', message } });

function podLabel(pod: V1Pod): string {
  const m = pod.metadata;
  return m?.name || (m?.generateName ? `${m.generateName}*` : '(unnamed)');
}

/**
 * Answers one AdmissionReview request.
 *
 * @example
 * const out = await handleAdmission(review.request, deps);
 * res.end(JSON.stringify(out));
 */
export async function handleAdmission(
  req: AdmissionRequest,
  deps: AdmissionDeps,
): Promise<AdmissionReviewResponse> {
  const pod = req.object;
  const isPod = req.kind?.kind === 'Pod' && (req.kind.group ?? '') === '';
  if (!isPod || req.operation !== 'CREATE' || !pod) return reply(req.uid);
  const sender = pod.metadata?.annotations?.[SENDER_ANNOTATION]?.trim();
  if (sender === undefined) return reply(req.uid);
  const namespace = req.namespace || pod.metadata?.namespace || 'default';

  if (!DNS_SUBDOMAIN.test(sender) || sender.length > MAX_SENDER_NAME) {
    return deny(
      req.uid,
      `${SENDER_ANNOTATION}: "${sender}" is not an EmailSender name (a lowercase DNS name of at most ${MAX_SENDER_NAME} characters)`,
    );
  }

  const warnings: string[] = [];
  if (!(await deps.senderExists(namespace, sender))) {
    const what = `${SENDER_ANNOTATION}: EmailSender "${sender}" does not exist in namespace "${namespace}"`;
    if (deps.strict) return deny(req.uid, `${what}; create it first, or fix the annotation`);
    warnings.push(
      `${what}; the sender sidecar is injected but stays unready until that EmailSender exists and passes its probe`,
    );
    if (!req.dryRun) {
      const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
      deps.onMissingSender?.({
        namespace,
        sender,
        pod: podLabel(pod),
        ...(owner
          ? { owner: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid } }
          : {}),
      });
    }
  }

  const plan = planInjection(pod, {
    sender,
    image: deps.image,
    ...(deps.imagePullPolicy ? { imagePullPolicy: deps.imagePullPolicy } : {}),
  });
  warnings.push(...plan.warnings);
  return reply(req.uid, {
    ...(plan.patch.length > 0
      ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(plan.patch)).toString('base64') }
      : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}
