/**
 * Where the API server is and how to authenticate: read from a kubeconfig file or the in-cluster
 * ServiceAccount, without loading client-node (its generated API costs ~80 MB of resident memory,
 * more than the controller's caches at 10,000 objects). Kubeconfigs that need an exec or
 * auth-provider plugin, or KUBECONFIG lists of several files, are handed to client-node's
 * `KubeConfig`, loaded only then.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/** TLS settings for `https.request`. */
export interface TlsSettings {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** How to reach one API server. */
export interface ClusterAccess {
  server: URL;
  tls: TlsSettings;
  /** Authorization headers, read again on every call (token files rotate). */
  headers(): Promise<Record<string, string>>;
  /** Where it came from, for logs. */
  source: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface NamedCluster {
  name: string;
  cluster: Record<string, string | boolean | undefined>;
}
interface NamedUser {
  name: string;
  user: Record<string, unknown>;
}
interface NamedContext {
  name: string;
  context: { cluster: string; user: string };
}
interface KubeconfigFile {
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
  'current-context'?: string;
}

function dataOrFile(data: unknown, file: unknown, base: string): Buffer | undefined {
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  if (typeof file === 'string' && file) return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

/** The in-cluster ServiceAccount (`KUBERNETES_SERVICE_HOST`, token file re-read as it rotates). */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    tls: { ca: readFileSync(join(dir, 'ca.crt')) },
    headers: async () => ({ Authorization: `Bearer ${readFileSync(join(dir, 'token'), 'utf8').trim()}` }),
    source: 'in-cluster',
  };
}

/**
 * A kubeconfig's text as an object. JSON (which kubectl reads too) needs no YAML parser; the yaml
 * library (~4 MB resident) loads only for a YAML file, so a controller in a cluster (in-cluster
 * access, no file) never loads it.
 */
function parseKubeconfig(text: string): KubeconfigFile {
  if (text.trimStart().startsWith('{')) return JSON.parse(text) as KubeconfigFile;
  const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);
  return (require('yaml') as typeof import('yaml')).parse(text) as KubeconfigFile;
}

/** Reads a kubeconfig file (YAML or JSON); undefined when its user needs a plugin this reader does not run. */
export function fileAccess(path: string, contextName?: string): ClusterAccess | undefined {
  const base = dirname(path);
  const kc = parseKubeconfig(readFileSync(path, 'utf8'));
  const ctxName = contextName ?? kc['current-context'];
  const ctx = kc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: context "${ctxName ?? ''}" not found`);
  const cluster = kc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" has no server`);
  const user = kc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) return undefined;
  const tls: TlsSettings = {};
  const ca = dataOrFile(cluster['certificate-authority-data'], cluster['certificate-authority'], base);
  if (ca) tls.ca = ca;
  const cert = dataOrFile(user['client-certificate-data'], user['client-certificate'], base);
  const key = dataOrFile(user['client-key-data'], user['client-key'], base);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (cluster['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  if (typeof cluster['tls-server-name'] === 'string') tls.servername = cluster['tls-server-name'];
  const token = typeof user.token === 'string' ? user.token : undefined;
  const tokenFile = typeof user.tokenFile === 'string' ? user.tokenFile : undefined;
  const basic =
    typeof user.username === 'string'
      ? Buffer.from(`${user.username}:${String(user.password ?? '')}`).toString('base64')
      : undefined;
  return {
    server: new URL(String(cluster.server)),
    tls,
    headers: async (): Promise<Record<string, string>> => {
      if (token) return { Authorization: `Bearer ${token}` };
      if (tokenFile) return { Authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` };
      if (basic) return { Authorization: `Basic ${basic}` };
      return {};
    },
    source: path,
  };
}

/** Any kubeconfig through client-node (exec and auth-provider plugins, merged KUBECONFIG lists). */
export async function clientNodeAccess(path: string | undefined): Promise<ClusterAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const read = async () => {
    const opts: Record<string, unknown> & { headers?: Record<string, string> } = {};
    await kc.applyToHTTPSOptions(opts);
    return opts;
  };
  const first = await read();
  const tls: TlsSettings = {};
  for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) {
    if (first[k] !== undefined) (tls as Record<string, unknown>)[k] = first[k];
  }
  return {
    server: new URL(cluster.server),
    tls,
    headers: async () => ({ ...((await read()).headers ?? {}) }),
    source: path ?? 'KUBECONFIG',
  };
}

/**
 * Resolves cluster access as kubectl does: `path`, else `KUBECONFIG`, else in-cluster, else
 * `~/.kube/config`.
 */
export async function loadClusterAccess(
  path?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClusterAccess> {
  const file =
    path ??
    (env.KUBECONFIG
      ? env.KUBECONFIG
      : env.KUBERNETES_SERVICE_HOST
        ? undefined
        : join(homedir(), '.kube', 'config'));
  if (!file) return inClusterAccess(env);
  if (file.includes(':')) return clientNodeAccess(path);
  return fileAccess(file) ?? clientNodeAccess(file);
}
