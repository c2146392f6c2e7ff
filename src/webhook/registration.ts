/**
 * The MutatingWebhookConfiguration: what it says, and keeping it (and its `caBundle`) current.
 *
 * Blast radius, from the outside in: system namespaces and the controller's own are never sent
 * (`namespaceSelector`, so a broken controller cannot block its own restart); a namespace or pod
 * labelled to opt out is not sent (`namespaceSelector`, `objectSelector`); of the rest only pod CREATEs
 * that carry the `mailroom.dev/sender` or `mailroom.dev/cluster-sender` annotation are sent (`matchConditions`, CEL: selectors see
 * labels only, and the opt-in is an annotation). `failurePolicy` then governs only those pods.
 *
 * Two modes. With `url` (outside a cluster: tests, `mailroom dev`) the controller owns the whole
 * object and writes it from its flags. With a Service (in a cluster) the object comes from `deploy/`
 * (GitOps owns it) and the controller only fills in `caBundle`, creating the object only if missing.
 *
 * @module
 */
import type { V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { KubeRest } from '../kube/rest.ts';
import { canonicalJson as canonical } from '../runtime/canonical-json.ts';
import type { Logger } from '../runtime/logger.ts';
import {
  CLUSTER_SENDER_ANNOTATION,
  MUTATE_PATH,
  NAMESPACE_OPT_OUT_LABEL,
  OPT_OUT_LABEL,
  SENDER_ANNOTATION,
  SYSTEM_NAMESPACES,
  WEBHOOK_NAME,
} from './constants.ts';
import { b64, statusOf } from './kube.ts';

const CONFIGURATIONS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

/** What the configuration is made from. */
export interface RegistrationOptions {
  /** Name of the MutatingWebhookConfiguration. */
  name: string;
  /** `https://host:port`: the API server calls this URL (the path is added). */
  url?: string;
  /** The Service in front of the controller, when there is no `url`. */
  service?: { name: string; namespace: string; port?: number };
  failurePolicy: 'Fail' | 'Ignore';
  /** Excluded besides the system namespaces. */
  controllerNamespace: string;
  timeoutSeconds?: number;
  /** `namespace/name` of a cert-manager Certificate whose CA its injector puts in `caBundle`. */
  injectCaFrom?: string;
}

/** The webhook's entry, with `caBundle` when given. */
export function mutatingWebhook(o: RegistrationOptions, caBundle?: string): V1MutatingWebhook {
  const clientConfig: V1MutatingWebhook['clientConfig'] = o.url
    ? { url: `${o.url.replace(/\/+$/, '')}${MUTATE_PATH}` }
    : {
        service: {
          name: o.service?.name ?? 'mailroom-webhook',
          namespace: o.service?.namespace ?? o.controllerNamespace,
          path: MUTATE_PATH,
          port: o.service?.port ?? 443,
        },
      };
  if (caBundle) clientConfig.caBundle = b64(caBundle);
  return {
    name: WEBHOOK_NAME,
    admissionReviewVersions: ['v1'],
    clientConfig,
    rules: [
      {
        operations: ['CREATE'],
        apiGroups: [''],
        apiVersions: ['v1'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ],
    failurePolicy: o.failurePolicy,
    // Missing-sender Events are the only side effect, and they are skipped for dry runs.
    sideEffects: 'NoneOnDryRun',
    // Called again when a later webhook adds containers, so they get the env vars too.
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: o.timeoutSeconds ?? 5,
    namespaceSelector: {
      matchExpressions: [
        {
          key: 'kubernetes.io/metadata.name',
          operator: 'NotIn',
          values: [...new Set([...SYSTEM_NAMESPACES, o.controllerNamespace])],
        },
        { key: NAMESPACE_OPT_OUT_LABEL, operator: 'NotIn', values: ['disabled'] },
      ],
    },
    objectSelector: {
      matchExpressions: [{ key: OPT_OUT_LABEL, operator: 'NotIn', values: ['disabled', 'false'] }],
    },
    matchConditions: [
      {
        name: 'annotated',
        expression: `has(object.metadata.annotations) && ('${SENDER_ANNOTATION}' in object.metadata.annotations || '${CLUSTER_SENDER_ANNOTATION}' in object.metadata.annotations)`,
      },
    ],
  };
}

/** The whole configuration object. */
export function webhookConfiguration(
  o: RegistrationOptions,
  caBundle?: string,
): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: o.name,
      labels: { 'app.kubernetes.io/name': 'mailroom', 'app.kubernetes.io/component': 'webhook' },
      ...(o.injectCaFrom ? { annotations: { 'cert-manager.io/inject-ca-from': o.injectCaFrom } } : {}),
    },
    webhooks: [mutatingWebhook(o, caBundle)],
  };
}

/**
 * Makes the API server's configuration match: creates it if missing; in `url` mode rewrites it from
 * the flags; in Service mode only sets `caBundle`. Writes nothing when it already matches.
 */
export async function ensureRegistration(
  rest: KubeRest,
  o: RegistrationOptions,
  caBundle: string | undefined,
  log: Logger,
): Promise<void> {
  const desired = webhookConfiguration(o, caBundle);
  let current: V1MutatingWebhookConfiguration | undefined;
  try {
    current = await rest.request<V1MutatingWebhookConfiguration>(
      'GET',
      `${CONFIGURATIONS}/${encodeURIComponent(o.name)}`,
    );
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  if (!current) {
    await rest.request('POST', CONFIGURATIONS, { body: desired });
    log.info({ name: o.name }, 'webhook configuration created');
    return;
  }
  let webhooks: V1MutatingWebhook[];
  if (o.url) {
    // Over the current entry, so fields the API server defaulted (matchPolicy, …) compare equal.
    const was = current.webhooks?.find((w) => w.name === WEBHOOK_NAME);
    const mine = { ...was, ...desired.webhooks![0]! };
    webhooks = [mine, ...(current.webhooks ?? []).filter((w) => w.name !== WEBHOOK_NAME)];
  } else if (caBundle) {
    webhooks = (current.webhooks ?? []).map((w) =>
      w.name === WEBHOOK_NAME ? { ...w, clientConfig: { ...w.clientConfig, caBundle: b64(caBundle) } } : w,
    );
  } else return;
  if (canonical(webhooks) === canonical(current.webhooks)) return;
  // The resourceVersion makes a concurrent edit fail (409) rather than be lost; the next check retries.
  await rest.request('PUT', `${CONFIGURATIONS}/${encodeURIComponent(o.name)}`, {
    body: { ...current, webhooks },
  });
  log.info({ name: o.name }, 'webhook configuration updated');
}
