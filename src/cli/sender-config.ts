/**
 * The published config of a sender, read as a sidecar gets it: the Secret `<name>-mailroom` (an
 * EmailSender) or `<name>-cluster-mailroom` (a ClusterEmailSender, published into each namespace
 * that uses it), key `config.json`, through the kubeconfig as kubectl would find it.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { clusterRenderedSecretName } from '../api/clusteremailsender.ts';
import { RENDERED_CONFIG_KEY, renderedSecretName } from '../api/rendered-config.ts';
import { loadClusterAccess } from '../kube/kubeconfig.ts';
import { KubeApiError, KubeRest } from '../kube/rest.ts';
import { type ActiveConfig, activateText } from '../sidecar/config.ts';

/** Which sender: a namespaced EmailSender or a ClusterEmailSender's copy in a namespace. */
export interface SenderRef {
  kind: 'EmailSender' | 'ClusterEmailSender';
  name: string;
  /** Where the published Secret is; default the kubeconfig context's namespace. */
  namespace?: string;
}

/** Why the config could not be read: `input` when the user named something that is not there. */
export class SenderConfigError extends Error {
  readonly input: boolean;
  constructor(message: string, input: boolean) {
    super(message);
    this.name = 'SenderConfigError';
    this.input = input;
  }
}

/** Parses `[NAMESPACE/]NAME`. */
export function parseSenderRef(value: string, kind: SenderRef['kind']): SenderRef {
  const parts = value.split('/');
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  const [ns, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (parts.length > 2 || !name || !dns.test(name) || (ns !== undefined && !dns.test(ns))) {
    throw new SenderConfigError(
      `--${kind === 'EmailSender' ? 'sender' : 'cluster-sender'} wants ${kind === 'EmailSender' ? '[NAMESPACE/]NAME' : 'NAME'} (lower-case DNS names), e.g. auth/identity`,
      true,
    );
  }
  return { kind, name, ...(ns ? { namespace: ns } : {}) };
}

/** The namespace kubectl would use: the current context's, in a pod its own, else `default`. */
export function currentNamespace(env: NodeJS.ProcessEnv = process.env): string {
  const file =
    env.KUBECONFIG?.split(':')[0] ||
    (env.KUBERNETES_SERVICE_HOST ? undefined : join(homedir(), '.kube', 'config'));
  try {
    if (file) {
      const kc = parse(readFileSync(file, 'utf8')) as {
        'current-context'?: string;
        contexts?: { name: string; context?: { namespace?: string } }[];
      };
      return kc.contexts?.find((c) => c.name === kc['current-context'])?.context?.namespace || 'default';
    }
    return (
      readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || 'default'
    );
  } catch {
    return 'default';
  }
}

/** Reads and validates the sender's published config, exactly as the sidecar would load it. */
export async function readSenderConfig(
  ref: SenderRef,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ActiveConfig> {
  const namespace = ref.namespace ?? currentNamespace(env);
  const secret =
    ref.kind === 'EmailSender' ? renderedSecretName(ref.name) : clusterRenderedSecretName(ref.name);
  const where = `Secret ${namespace}/${secret}`;
  const rest = new KubeRest(await loadClusterAccess(undefined, env));
  let body: { data?: Record<string, string> };
  try {
    body = await rest.request('GET', `/api/v1/namespaces/${namespace}/secrets/${secret}`, {
      timeoutMs: 15_000,
    });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) {
      throw new SenderConfigError(
        `${where} not found: the ${ref.kind} ${ref.kind === 'EmailSender' ? `${namespace}/` : ''}${ref.name} does not exist${ref.kind === 'ClusterEmailSender' ? ` or is not published into ${namespace}` : ''}, or has not been Ready yet (its config is published after the first successful probe)`,
        true,
      );
    }
    if (err instanceof KubeApiError && err.status === 403) {
      throw new SenderConfigError(
        `${where}: forbidden: reading it needs get on secrets in ${namespace}`,
        false,
      );
    }
    throw new SenderConfigError(
      `cannot read ${where}: ${err instanceof KubeApiError ? `${err.status} ${err.reason}` : (err as Error).message}`,
      false,
    );
  } finally {
    rest.close();
  }
  const data = body.data?.[RENDERED_CONFIG_KEY];
  if (!data)
    throw new SenderConfigError(
      `${where} has no key ${RENDERED_CONFIG_KEY}: it is not a Mailroom config`,
      true,
    );
  return activateText(Buffer.from(data, 'base64').toString('utf8'), where);
}
