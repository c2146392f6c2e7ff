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
import { CLUSTER_SENDER_ANNOTATION, SENDER_ANNOTATION } from './constants.ts';
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

/** A pod that names a sender that does not exist (or does not allow its namespace), for an Event. */
export interface MissingSender {
  namespace: string;
  sender: string;
  /** Absent: an EmailSender of the pod's namespace. */
  kind?: 'ClusterEmailSender';
  /** Absent: the sender does not exist. `NotAllowed`: the ClusterEmailSender's selector excludes the namespace. */
  problem?: 'NotAllowed';
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
  /**
   * Whether the ClusterEmailSender exists and its `namespaceSelector` allows `namespace`; cached,
   * with a live read on a miss. Absent: every ClusterEmailSender is missing.
   */
  clusterSenderAccess?(name: string, namespace: string): Promise<'allowed' | 'notAllowed' | 'missing'>;
  /** Called (not awaited) for a pod admitted despite a missing or refusing sender; never on a dry run. */
  onMissingSender?(info: MissingSender): void;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// `<name>-mailroom` must itself be a valid Secret name.
const MAX_SENDER_NAME = 253 - '-mailroom'.length;
const MAX_CLUSTER_SENDER_NAME = 253 - '-cluster-mailroom'.length;

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
  const annotations = pod.metadata?.annotations ?? {};
  const named = annotations[SENDER_ANNOTATION]?.trim();
  const clusterNamed = annotations[CLUSTER_SENDER_ANNOTATION]?.trim();
  if (named === undefined && clusterNamed === undefined) return reply(req.uid);
  if (named !== undefined && clusterNamed !== undefined)
    return deny(
      req.uid,
      `the pod names both ${SENDER_ANNOTATION} "${named}" and ${CLUSTER_SENDER_ANNOTATION} "${clusterNamed}": pick one (the namespace's EmailSender or the platform's ClusterEmailSender) and remove the other annotation`,
    );
  const cluster = clusterNamed !== undefined;
  const sender = (clusterNamed ?? named)!;
  const annotation = cluster ? CLUSTER_SENDER_ANNOTATION : SENDER_ANNOTATION;
  const kind = cluster ? 'ClusterEmailSender' : 'EmailSender';
  const namespace = req.namespace || pod.metadata?.namespace || 'default';

  const maxName = cluster ? MAX_CLUSTER_SENDER_NAME : MAX_SENDER_NAME;
  if (!DNS_SUBDOMAIN.test(sender) || sender.length > maxName) {
    return deny(
      req.uid,
      `${annotation}: "${sender}" is not ${cluster ? 'a' : 'an'} ${kind} name (a lowercase DNS name of at most ${maxName} characters)`,
    );
  }

  const warnings: string[] = [];
  const report = (problem: MissingSender['problem']) => {
    if (req.dryRun) return;
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    deps.onMissingSender?.({
      namespace,
      sender,
      pod: podLabel(pod),
      ...(cluster ? { kind: 'ClusterEmailSender' as const } : {}),
      ...(problem ? { problem } : {}),
      ...(owner
        ? { owner: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid } }
        : {}),
    });
  };
  const access = cluster
    ? await (deps.clusterSenderAccess?.(sender, namespace) ?? Promise.resolve('missing' as const))
    : (await deps.senderExists(namespace, sender))
      ? 'allowed'
      : 'missing';
  if (access === 'notAllowed') {
    // No sidecar: it could never get a config here, and an unready sidecar would hide why.
    const what = `${annotation}: ClusterEmailSender "${sender}" does not allow namespace "${namespace}" (its spec.namespaceSelector)`;
    if (deps.strict)
      return deny(req.uid, `${what}; ask the platform team to allow it, or fix the annotation`);
    report('NotAllowed');
    return reply(req.uid, {
      warnings: [`${what}; the pod is admitted without the sender sidecar and gets no config`],
    });
  }
  if (access === 'missing') {
    const what = cluster
      ? `${annotation}: ClusterEmailSender "${sender}" does not exist`
      : `${annotation}: EmailSender "${sender}" does not exist in namespace "${namespace}"`;
    if (deps.strict) return deny(req.uid, `${what}; create it first, or fix the annotation`);
    warnings.push(
      `${what}; the sender sidecar is injected but stays unready until that ${kind} exists and passes its probe`,
    );
    report(undefined);
  }

  const plan = planInjection(pod, {
    sender,
    ...(cluster ? { cluster } : {}),
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
