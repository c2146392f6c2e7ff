/**
 * Names the webhook shares with users, manifests and tests: annotations a pod carries, labels the
 * webhook adds, names of what it injects, and the defaults for the injected sender.
 *
 * @module
 */

/** Pod annotation naming the EmailSender (same namespace) whose sender to inject. */
export const SENDER_ANNOTATION = 'mailroom.dev/sender';
/** Pod annotation naming the ClusterEmailSender whose sender to inject (the namespace must be allowed). */
export const CLUSTER_SENDER_ANNOTATION = 'mailroom.dev/cluster-sender';
/** Pod annotation naming a PersistentVolumeClaim for the sender's queue instead of an `emptyDir`. */
export const DATA_CLAIM_ANNOTATION = 'mailroom.dev/data-claim';
/** Pod annotations overriding the sidecar's resources (Kubernetes quantities). */
export const RESOURCE_ANNOTATIONS = {
  cpuRequest: 'mailroom.dev/cpu-request',
  memoryRequest: 'mailroom.dev/memory-request',
  cpuLimit: 'mailroom.dev/cpu-limit',
  memoryLimit: 'mailroom.dev/memory-limit',
} as const;
/**
 * Label the webhook puts on every pod it injects. Labels (unlike annotations) can be selected on, so
 * the consumer count watches only these pods instead of every pod in the cluster.
 */
export const INJECTED_LABEL = 'mailroom.dev/injected';
/** Pod label that opts a pod out: the webhook configuration's objectSelector skips it. */
export const OPT_OUT_LABEL = 'mailroom.dev/inject';
/** Namespace label that opts a whole namespace out (namespaceSelector). */
export const NAMESPACE_OPT_OUT_LABEL = 'mailroom.dev/injection';

/** Name of the injected init container (native sidecar). */
export const SIDECAR_NAME = 'mailroom-sender';
/** Volume names the webhook adds; an existing volume of the same name is left alone. */
export const VOLUMES = { config: 'mailroom-config', data: 'mailroom-data', tmp: 'mailroom-tmp' } as const;
/** Where the sidecar finds things. */
export const PATHS = { config: '/etc/mailroom', data: '/var/lib/mailroom', tmp: '/tmp' } as const;
/** Loopback ports of the sender's two front doors. */
export const PORTS = { smtp: 1025, http: 8025, metrics: 9025 } as const;

/**
 * Name of the sidecar's metrics port, the only one it opens on the pod IP (the PodMonitor in
 * deploy/monitoring scrapes it by name). Port names are at most 15 characters.
 */
export const METRICS_PORT_NAME = 'sender-metrics';

/** Environment the app containers get, telling them where to send. */
export const APP_ENV = {
  MAILROOM_SMTP_URL: `smtp://127.0.0.1:${PORTS.smtp}/?disable_starttls=true`,
  MAILROOM_API_URL: `http://127.0.0.1:${PORTS.http}`,
} as const;

/**
 * Resources of the sidecar when no annotation overrides them; no CPU limit (throttling delays mail).
 * Memory: the limit leaves room above the resident figures `npm run bench:sidecar` prints with
 * {@link SIDECAR_NODE_OPTIONS} (at rest, through a 10,000-message burst, max-size messages under a
 * stall; docs/sidecar.md has the last run's).
 */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '10m', memory: '96Mi' },
  limits: { memory: '256Mi' },
} as const;

/**
 * V8 heap bounds for the sidecar: a small young generation and a capped old one keep RSS steady.
 * Semi-spaces of 3 MB, not 2: an SMTP-door message leaves ~61 KiB of garbage, and with 2 MB the
 * young generation was scavenged 372-374 times per 10,000 messages against ~188 with 3 (GC pause
 * 30-40% less); `npm run bench:sidecar` in alternating runs (01:43-02:03 UTC, load 0.8-2) gave the
 * SMTP door 404-532 µs of CPU a message against 481-622, the same idle RSS (57 MB), burst peaks of
 * 91-95 MB against 87-94, and max-size messages under a stall 93-102 MB against 91-94.
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=3 --max-old-space-size=64';

/**
 * glibc malloc settings for the sidecar (read from the environment once, at start): one arena, and
 * blocks of 128 KiB and up mapped on their own and unmapped when freed. A large message goes
 * through in 256 KiB payload parts that SQLite and Node copy; glibc's default raises its mmap
 * threshold past them once the first is freed, and their holes in the heap (and in one arena per
 * V8 worker thread) then stay resident. Measured on the built sidecar with max-size messages under
 * a stalled upstream (the bench's scenario, 4 alternating runs, load 1.3-5.0): peak RSS 93-96 MB
 * with these, 95-102 MB without; 10,000 HTTP messages: peak 93-94 vs 95-98 MB, same CPU per message.
 */
export const SIDECAR_MALLOC_ENV = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
} as const;

/**
 * The sidecar's command: Node started from the V8 startup snapshot the image carries
 * (src/cli/snapshot.ts, built by the Dockerfile with the image's node), not from dist/cli/main.js:
 * its modules are already evaluated in the blob (less CPU to ready, less idle RSS; docs/sidecar.md).
 * The container's args are the CLI's (`sidecar …`), as with the image's entrypoint.
 */
export const SIDECAR_COMMAND = ['node', '--snapshot-blob', '/app/dist/sidecar.blob'] as const;

/** Default image of the sender (the same image as the controller). */
export const DEFAULT_IMAGE = 'ghcr.io/mailroom-dev/mailroom:0.1.0';
/** Unprivileged user of the image (distroless `nonroot`). */
export const SIDECAR_UID = 65532;

/** The webhook's name inside its MutatingWebhookConfiguration. */
export const WEBHOOK_NAME = 'sidecar.mailroom.dev';
/** Default name of the MutatingWebhookConfiguration. */
export const DEFAULT_CONFIG_NAME = 'mailroom-sidecar-injector';
/** Default name of the Secret holding the webhook's CA and serving certificate. */
export const DEFAULT_TLS_SECRET = 'mailroom-webhook-tls';
/** Default name of the webhook's Service (in-cluster). */
export const DEFAULT_SERVICE_NAME = 'mailroom-webhook';
/** Path the webhook serves AdmissionReviews on. */
export const MUTATE_PATH = '/mutate-pods';
/** Namespaces the webhook never sees, besides the controller's own. */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;
