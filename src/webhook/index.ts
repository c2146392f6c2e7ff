/**
 * The sidecar-injection webhook, served by the controller: a TLS server for AdmissionReviews, its
 * self-managed (or cert-manager's) certificate, its MutatingWebhookConfiguration, the EmailSender
 * cache it answers from, Events for missing senders, and `status.consumers`.
 *
 * @module
 */
import type { KubeContext } from '../kube/context.ts';
import type { Logger } from '../runtime/logger.ts';
import { CertificateKeeper } from './certificates.ts';
import { startClusterSenderCache } from './cluster-senders.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_IMAGE, DEFAULT_SERVICE_NAME, DEFAULT_TLS_SECRET } from './constants.ts';
import { type ConsumerCount, startConsumerCount } from './consumers.ts';
import { MissingSenderEvents } from './events.ts';
import { withBackoff } from './kube.ts';
import { ensureRegistration, type RegistrationOptions } from './registration.ts';
import { startSenderCache } from './senders.ts';
import { startWebhookServer, type WebhookLimits, type WebhookServerStats } from './server.ts';

export * from './constants.ts';

const DAY = 86_400_000;

/** Options of {@link startWebhook}. */
export interface WebhookOptions {
  /** The process's client layer (see `connectKube`), shared with the controller when it runs too. */
  kube: KubeContext;
  /** `host:port` to serve on. */
  listen: string;
  /** `https://host:port` the API server should call (outside a cluster); else the Service is used. */
  url?: string;
  /** The controller's namespace: holds the TLS Secret, and is never sent to the webhook. */
  namespace: string;
  configName?: string;
  secretName?: string;
  serviceName?: string;
  failurePolicy?: 'Fail' | 'Ignore';
  /** Reject pods naming a missing EmailSender. */
  strict?: boolean;
  /** cert-manager owns the Secret and the `caBundle`. */
  certManager?: boolean;
  image?: string;
  imagePullPolicy?: string;
  /** Lifetimes; defaults 1 year (CA), 30 days (serving certificate), 5 min (new CA propagation). */
  caValidityMs?: number;
  certValidityMs?: number;
  propagationMs?: number;
  /** How often the Secret and the configuration are checked. Default 1 min. */
  checkIntervalMs?: number;
  /**
   * The clock renewal decisions read (ms since the epoch); default `Date.now`. Tests step it to
   * drive rotations with certificates that stay valid in real time, whatever the machine's load.
   */
  now?: () => number;
  /** Keep `status.consumers` current (and confirm admissions for `SenderNotFound` Events). Default true. */
  countConsumers?: boolean;
  /** Per-source limits of the HTTPS server (defaults in `server.ts`). */
  limits?: WebhookLimits;
  log: Logger;
  /** Admission handling times, for metrics and the bench. */
  observe?(ms: number, injected: boolean): void;
}

/** A running webhook. */
export interface Webhook {
  /** `host:port` it listens on. */
  readonly address: string;
  /** Runs one certificate and registration check now (the periodic one runs by itself). */
  check(): Promise<void>;
  /** What the limits turned away, and admissions awaiting their pod for an Event. */
  stats(): WebhookServerStats & { eventsPending: number; eventsUnconfirmed: number };
  stop(): Promise<void>;
}

function certificateNames(o: WebhookOptions): string[] {
  const svc = o.serviceName ?? DEFAULT_SERVICE_NAME;
  const names = [
    `${svc}.${o.namespace}.svc`,
    `${svc}.${o.namespace}.svc.cluster.local`,
    `${svc}.${o.namespace}`,
  ];
  if (o.url) names.unshift(new URL(o.url).hostname.replace(/^\[(.*)\]$/, '$1'));
  return [...new Set(names)];
}

/**
 * Starts the webhook: certificate first (waiting for cert-manager's if that mode is on), then the
 * sender cache, the server, the registration and the consumer count.
 *
 * @example
 * const webhook = await startWebhook({ kube, listen: '127.0.0.1:9443', url: 'https://127.0.0.1:9443',
 *   namespace: 'mailroom-system', log });
 */
export async function startWebhook(o: WebhookOptions): Promise<Webhook> {
  const log = o.log.child({ component: 'webhook' });
  const { kube } = o;
  const abort = new AbortController();
  const secretName = o.secretName ?? DEFAULT_TLS_SECRET;
  const keeper = new CertificateKeeper({
    rest: kube.rest,
    namespace: o.namespace,
    secretName,
    log,
    ...(o.now ? { now: o.now } : {}),
    ...(o.certManager
      ? {}
      : {
          policy: {
            names: certificateNames(o),
            caValidityMs: o.caValidityMs ?? 365 * DAY,
            certValidityMs: o.certValidityMs ?? 30 * DAY,
            propagationMs: o.propagationMs ?? 5 * 60_000,
          },
        }),
  });
  const registration: RegistrationOptions = {
    name: o.configName ?? DEFAULT_CONFIG_NAME,
    failurePolicy: o.failurePolicy ?? 'Fail',
    controllerNamespace: o.namespace,
    ...(o.url
      ? { url: o.url }
      : { service: { name: o.serviceName ?? DEFAULT_SERVICE_NAME, namespace: o.namespace } }),
    ...(o.certManager ? { injectCaFrom: `${o.namespace}/${secretName.replace(/-tls$/, '')}` } : {}),
  };

  const first = await withBackoff(
    () => keeper.check(),
    abort.signal,
    (err) => log.warn({ err }, 'webhook certificate not available yet; retrying'),
  );
  let consumers: ConsumerCount | undefined;
  // Events only for pods the injected-pod watch then reports: a forged review makes none.
  const missing = new MissingSenderEvents({ events: kube.events });
  const senders = await startSenderCache(kube, log, (s) => consumers?.touch(s));
  const clusterSenders = await startClusterSenderCache(kube, log);
  const server = await startWebhookServer({
    listen: o.listen,
    cert: first.update.cert,
    key: first.update.key,
    log,
    ...(o.limits ? { limits: o.limits } : {}),
    deps: {
      image: o.image ?? DEFAULT_IMAGE,
      ...(o.imagePullPolicy ? { imagePullPolicy: o.imagePullPolicy } : {}),
      strict: o.strict ?? false,
      senderExists: (ns, name) => senders.exists(ns, name),
      clusterSenderAccess: (name, ns) => clusterSenders.access(name, ns),
      onMissingSender: missing.hook,
    },
    ...(o.observe ? { observe: o.observe } : {}),
  });
  await ensureRegistration(kube.rest, registration, first.update.bundle, log);
  if (o.countConsumers ?? true)
    consumers = await startConsumerCount({ kube, senders, log, onPod: (pod) => missing.observe(pod) });

  let running: Promise<void> | undefined;
  const check = (): Promise<void> => {
    running ??= (async () => {
      const { update, changed } = await keeper.check();
      // Trust first, then serve: a new CA reaches caBundle before any certificate it signed is served.
      await ensureRegistration(kube.rest, registration, update.bundle, log);
      if (changed) server.setCertificate(update);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(
    () => void check().catch((err: unknown) => log.warn({ err }, 'webhook certificate check failed')),
    o.checkIntervalMs ?? 60_000,
  );
  log.info({ address: server.address, url: o.url, configuration: registration.name }, 'webhook serving');

  return {
    address: server.address,
    check,
    stats: () => ({
      ...server.stats(),
      eventsPending: missing.pendingCount,
      eventsUnconfirmed: missing.unconfirmed,
    }),
    async stop() {
      abort.abort();
      clearInterval(timer);
      missing.stop();
      await running?.catch(() => {});
      await consumers?.stop();
      await senders.stop();
      await clusterSenders.stop();
      await server.close();
    },
  };
}
