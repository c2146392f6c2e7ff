/**
 * The webhook's flags on `mailroom controller`, and starting the webhook from them. Kept here so the
 * controller command only adds the flags and calls {@link startWebhookFromFlags}.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../api/duration.ts';
import type { KubeContext } from '../kube/context.ts';
import type { Logger } from '../runtime/logger.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_IMAGE, DEFAULT_SERVICE_NAME, DEFAULT_TLS_SECRET } from './constants.ts';
import type { Webhook } from './index.ts';

/** The webhook's flags, after parsing (commander's camelCase names). */
export interface WebhookFlags {
  webhookListen?: string;
  webhookUrl?: string;
  webhookStrict?: boolean;
  webhookFailurePolicy?: 'Fail' | 'Ignore';
  webhookCertManager?: boolean;
  webhookConfigName?: string;
  webhookSecret?: string;
  webhookService?: string;
  webhookNamespace?: string;
  webhookSidecarImage?: string;
  webhookCertValidity?: number;
  /** Requests per second from one source address (bursts of twice that). */
  webhookSourceRate?: number;
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 1000)
    throw new InvalidArgumentError('expected a duration such as 720h or 30m');
  return ms;
}

function perSecond(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new InvalidArgumentError('expected a whole number of requests per second, from 1 to 100000');
  return n;
}

function httpsUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as https://127.0.0.1:9443');
  }
  if (url.protocol !== 'https:')
    throw new InvalidArgumentError('the API server calls webhooks over https only');
  return value;
}

/** Adds the `--webhook-*` flags to a command. */
export function addWebhookOptions(cmd: Command): Command {
  return cmd
    .option('--webhook-listen <addr>', 'serve the sidecar-injection webhook on host:port (off when absent)')
    .option(
      '--webhook-url <url>',
      'register the webhook at this https URL (outside a cluster) instead of the in-cluster Service',
      httpsUrl,
    )
    .option(
      '--webhook-strict',
      'reject pods naming a missing EmailSender or ClusterEmailSender, or one that does not allow their namespace (default: admit with a warning)',
      false,
    )
    .addOption(
      new Option('--webhook-failure-policy <policy>', 'what the API server does when the webhook is down')
        .choices(['Fail', 'Ignore'])
        .default('Fail'),
    )
    .option('--webhook-cert-manager', 'cert-manager owns the serving certificate and caBundle', false)
    .option('--webhook-config-name <name>', 'MutatingWebhookConfiguration name', DEFAULT_CONFIG_NAME)
    .option('--webhook-secret <name>', "Secret with the webhook's CA and certificate", DEFAULT_TLS_SECRET)
    .option('--webhook-service <name>', "the webhook's Service (in-cluster)", DEFAULT_SERVICE_NAME)
    .option('--webhook-namespace <ns>', "the controller's namespace (default: POD_NAMESPACE, else the pod's)")
    .option(
      '--webhook-sidecar-image <image>',
      'image of the injected sender',
      process.env.MAILROOM_SIDECAR_IMAGE ?? DEFAULT_IMAGE,
    )
    .option('--webhook-cert-validity <duration>', 'lifetime of the serving certificate', duration)
    .option(
      '--webhook-source-rate <n>',
      'admission requests per second from one source address, bursts of twice that (default 100)',
      perSecond,
    );
}

/**
 * Starts the webhook when `--webhook-listen` is set; resolves to undefined otherwise.
 *
 * @example
 * const webhook = await startWebhookFromFlags(flags, { kube, log, namespace: podNamespace() });
 * // on shutdown: await webhook?.stop();
 */
export async function startWebhookFromFlags(
  flags: WebhookFlags,
  ctx: { kube: KubeContext; log: Logger; namespace: string },
): Promise<Webhook | undefined> {
  if (!flags.webhookListen) return undefined;
  // Loaded only when the webhook is on: a controller without it never loads its code.
  const { startWebhook } = await import('./index.ts');
  return startWebhook({
    kube: ctx.kube,
    log: ctx.log,
    listen: flags.webhookListen,
    namespace: flags.webhookNamespace ?? ctx.namespace,
    ...(flags.webhookUrl ? { url: flags.webhookUrl } : {}),
    strict: flags.webhookStrict ?? false,
    failurePolicy: flags.webhookFailurePolicy ?? 'Fail',
    certManager: flags.webhookCertManager ?? false,
    ...(flags.webhookConfigName ? { configName: flags.webhookConfigName } : {}),
    ...(flags.webhookSecret ? { secretName: flags.webhookSecret } : {}),
    ...(flags.webhookService ? { serviceName: flags.webhookService } : {}),
    ...(flags.webhookSidecarImage ? { image: flags.webhookSidecarImage } : {}),
    ...(flags.webhookCertValidity ? { certValidityMs: flags.webhookCertValidity } : {}),
    ...(flags.webhookSourceRate
      ? { limits: { requests: { perSecond: flags.webhookSourceRate, burst: 2 * flags.webhookSourceRate } } }
      : {}),
  });
}
