/**
 * The injection itself, as a pure function from a pod to a JSON Patch: the sender as a native
 * sidecar, its volumes, and the env vars that tell the app where to send.
 *
 * Idempotent by construction: each piece is added only when absent (container, volume and env var by
 * name), so a re-admitted or re-invoked pod, or one created from an already injected manifest, gets
 * an empty patch.
 *
 * @module
 */
import type { V1Container, V1EnvVar, V1Pod, V1ResourceRequirements, V1Volume } from '@kubernetes/client-node';
import { clusterRenderedSecretName } from '../api/clusteremailsender.ts';
import { RENDERED_CONFIG_KEY, renderedSecretName } from '../api/rendered-config.ts';
import { DEFAULT_MAX_QUEUE_BYTES, dataVolumeSizeLimit } from '../sidecar/limits.ts';
import {
  APP_ENV,
  DATA_CLAIM_ANNOTATION,
  DEFAULT_RESOURCES,
  INJECTED_LABEL,
  METRICS_PORT_NAME,
  PATHS,
  PORTS,
  RESOURCE_ANNOTATIONS,
  SIDECAR_COMMAND,
  SIDECAR_MALLOC_ENV,
  SIDECAR_NAME,
  SIDECAR_NODE_OPTIONS,
  SIDECAR_UID,
  VOLUMES,
} from './constants.ts';
import { parseQuantity } from './quantity.ts';

/** One RFC 6902 operation; the webhook only ever adds. */
export interface PatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

/** What {@link planInjection} needs besides the pod. */
export interface InjectionOptions {
  /** The sender named by the pod's annotation (already validated). */
  sender: string;
  /** The sender is a ClusterEmailSender: mount its per-namespace copy, `<name>-cluster-mailroom`. */
  cluster?: boolean;
  /** Image of the sender. */
  image: string;
  /** `imagePullPolicy` of the sidecar; default: the kubelet's default for the image tag. */
  imagePullPolicy?: string;
}

/** The patch for one pod and the warnings to return with it. */
export interface InjectionPlan {
  patch: PatchOp[];
  warnings: string[];
}

/** Escapes a key for a JSON Pointer (RFC 6901). */
const pointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

function resources(annotations: Record<string, string>, warnings: string[]): V1ResourceRequirements {
  const requests: Record<string, string> = { ...DEFAULT_RESOURCES.requests };
  const limits: Record<string, string> = { ...DEFAULT_RESOURCES.limits };
  const overrides = [
    [RESOURCE_ANNOTATIONS.cpuRequest, requests, 'cpu'],
    [RESOURCE_ANNOTATIONS.memoryRequest, requests, 'memory'],
    [RESOURCE_ANNOTATIONS.cpuLimit, limits, 'cpu'],
    [RESOURCE_ANNOTATIONS.memoryLimit, limits, 'memory'],
  ] as const;
  for (const [key, target, resource] of overrides) {
    const value = annotations[key];
    if (value === undefined) continue;
    if (parseQuantity(value) === undefined) {
      warnings.push(`${key}: "${value}" is not a Kubernetes quantity (e.g. 100m, 64Mi); using the default`);
      continue;
    }
    target[resource] = value.trim();
  }
  // A raised request with the default limit would make the pod invalid; follow the request instead.
  for (const resource of ['cpu', 'memory'] as const) {
    const req = requests[resource];
    const lim = limits[resource];
    if (req === undefined || lim === undefined) continue;
    if ((parseQuantity(req) ?? 0) > (parseQuantity(lim) ?? Number.POSITIVE_INFINITY)) {
      if (annotations[RESOURCE_ANNOTATIONS[`${resource}Limit`]] !== undefined) continue; // the API explains
      limits[resource] = req;
    }
  }
  return { requests, limits };
}

/** The sidecar container for a sender. */
export function sidecarContainer(opts: InjectionOptions, res: V1ResourceRequirements): V1Container {
  return {
    name: SIDECAR_NAME,
    image: opts.image,
    ...(opts.imagePullPolicy ? { imagePullPolicy: opts.imagePullPolicy } : {}),
    // A native sidecar: started before the app containers, stopped after them.
    restartPolicy: 'Always',
    command: [...SIDECAR_COMMAND],
    args: [
      'sidecar',
      '--config',
      `${PATHS.config}/${RENDERED_CONFIG_KEY}`,
      '--smtp-listen',
      `127.0.0.1:${PORTS.smtp}`,
      '--http-listen',
      `127.0.0.1:${PORTS.http}`,
      '--data-dir',
      PATHS.data,
      // /metrics alone on the pod IP for Prometheus; the doors above stay on loopback.
      '--metrics-listen',
      `:${PORTS.metrics}`,
      // The emptyDir's sizeLimit is derived from this quota (sidecarVolumes).
      '--max-queue-bytes',
      String(DEFAULT_MAX_QUEUE_BYTES),
    ],
    ports: [{ name: METRICS_PORT_NAME, containerPort: PORTS.metrics, protocol: 'TCP' }],
    env: [
      { name: 'NODE_OPTIONS', value: SIDECAR_NODE_OPTIONS },
      ...Object.entries(SIDECAR_MALLOC_ENV).map(([name, value]) => ({ name, value })),
    ],
    resources: res,
    // Kubelet probes come from the node and cannot reach the loopback-only doors; the metrics
    // listener on the pod IP runs the same checks. (An exec probe would start a whole Node process
    // inside the sidecar's memory limit every period.)
    readinessProbe: {
      httpGet: { path: '/readyz', port: METRICS_PORT_NAME },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    // Liveness: the event loop turns and the queue answers a query.
    livenessProbe: {
      httpGet: { path: '/healthz', port: METRICS_PORT_NAME },
      periodSeconds: 20,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: VOLUMES.config, mountPath: PATHS.config, readOnly: true },
      { name: VOLUMES.data, mountPath: PATHS.data },
      { name: VOLUMES.tmp, mountPath: PATHS.tmp },
    ],
  };
}

/** The volumes the sidecar mounts. */
export function sidecarVolumes(
  sender: string,
  annotations: Record<string, string>,
  cluster = false,
): V1Volume[] {
  const claim = annotations[DATA_CLAIM_ANNOTATION]?.trim();
  return [
    {
      name: VOLUMES.config,
      // Optional: the Secret appears only after the sender's first good probe; the kubelet fills the
      // volume when it does and the sender, not ready until then, loads it.
      secret: {
        secretName: cluster ? clusterRenderedSecretName(sender) : renderedSecretName(sender),
        optional: true,
        defaultMode: 0o440,
      },
    },
    claim
      ? { name: VOLUMES.data, persistentVolumeClaim: { claimName: claim } }
      : { name: VOLUMES.data, emptyDir: { sizeLimit: dataVolumeSizeLimit(DEFAULT_MAX_QUEUE_BYTES) } },
    { name: VOLUMES.tmp, emptyDir: { sizeLimit: '16Mi' } },
  ];
}

function withAppEnv(env: V1EnvVar[] | undefined): V1EnvVar[] | undefined {
  const present = new Set((env ?? []).map((e) => e.name));
  const missing = Object.entries(APP_ENV).filter(([name]) => !present.has(name));
  if (missing.length === 0) return undefined;
  return [...(env ?? []), ...missing.map(([name, value]) => ({ name, value }))];
}

/**
 * Computes the JSON Patch that injects the sender into `pod`. Pure; returns an empty patch when the
 * pod already has everything (re-admission, reinvocation, a manifest copied from an injected pod).
 *
 * @example
 * const { patch } = planInjection(pod, { sender: 'identity', image: 'ghcr.io/mailroom-dev/mailroom:0.1.0' });
 */
export function planInjection(pod: V1Pod, opts: InjectionOptions): InjectionPlan {
  const warnings: string[] = [];
  const patch: PatchOp[] = [];
  const annotations = pod.metadata?.annotations ?? {};
  const spec = pod.spec ?? { containers: [] };

  const labels = pod.metadata?.labels;
  if (!labels) patch.push({ op: 'add', path: '/metadata/labels', value: { [INJECTED_LABEL]: 'true' } });
  else if (labels[INJECTED_LABEL] !== 'true')
    patch.push({ op: 'add', path: `/metadata/labels/${pointer(INJECTED_LABEL)}`, value: 'true' });

  const named = (c: V1Container) => c.name === SIDECAR_NAME;
  if (!spec.initContainers?.some(named) && !spec.containers?.some(named)) {
    const sidecar = sidecarContainer(opts, resources(annotations, warnings));
    // First, so init containers after it can send mail too.
    patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar, ...(spec.initContainers ?? [])] });
  }

  const existing = new Set((spec.volumes ?? []).map((v) => v.name));
  const volumes = sidecarVolumes(opts.sender, annotations, opts.cluster).filter((v) => !existing.has(v.name));
  if (volumes.length > 0)
    patch.push({ op: 'add', path: '/spec/volumes', value: [...(spec.volumes ?? []), ...volumes] });

  (spec.containers ?? []).forEach((c, i) => {
    if (named(c)) return;
    const env = withAppEnv(c.env);
    if (env) patch.push({ op: 'add', path: `/spec/containers/${i}/env`, value: env });
  });
  return { patch, warnings };
}
