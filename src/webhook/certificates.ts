/**
 * Keeps the webhook's serving certificate: reads it from a Secret in the controller's namespace,
 * renews it there before it expires (see `rotation.ts`), and tells the server and the webhook
 * configuration when it changed.
 *
 * Every replica runs this loop; writes carry the Secret's resourceVersion, so when two renew at once
 * one write wins and the other replica adopts it on its next read.
 *
 * In cert-manager mode the Secret belongs to cert-manager (a `Certificate` writes it, its CA injector
 * fills the `caBundle`): this only reads it.
 *
 * @module
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { KubeRest } from '../kube/rest.ts';
import { secretPath } from '../kube/secrets.ts';
import type { Logger } from '../runtime/logger.ts';
import { b64, statusOf, unb64 } from './kube.ts';
import { type RotationPolicy, rotate, type TlsMaterial } from './rotation.ts';

const CA_SINCE_ANNOTATION = 'mailroom.dev/ca-since';
const KEYS = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  bundle: 'ca-bundle.crt',
} as const;

/** What the keeper reports after each check. */
export interface CertificateUpdate {
  cert: string;
  key: string;
  /** CAs the API server should trust (PEM); undefined in cert-manager mode. */
  bundle?: string;
}

/** Options of {@link CertificateKeeper}. */
export interface CertificateKeeperOptions {
  rest: KubeRest;
  namespace: string;
  secretName: string;
  /** Undefined: cert-manager owns the Secret, only read it. */
  policy?: RotationPolicy;
  log: Logger;
  now?: () => number;
}

function fromSecret(s: V1Secret): TlsMaterial | undefined {
  const d = s.data ?? {};
  const m = {
    caCert: unb64(d[KEYS.caCert]) ?? '',
    caKey: unb64(d[KEYS.caKey]) ?? '',
    caSince: Number(s.metadata?.annotations?.[CA_SINCE_ANNOTATION] ?? 0),
    cert: unb64(d[KEYS.cert]) ?? '',
    key: unb64(d[KEYS.key]) ?? '',
    bundle: unb64(d[KEYS.bundle]) ?? '',
  };
  return m.cert && m.key ? m : undefined;
}

/** Reads, renews and stores the webhook's TLS material. */
export class CertificateKeeper {
  readonly #o: CertificateKeeperOptions;
  #last?: CertificateUpdate;

  constructor(opts: CertificateKeeperOptions) {
    this.#o = opts;
  }

  /**
   * One check: the material to serve now, renewed and stored first if it was due. `changed` says
   * whether it differs from what the previous call returned.
   */
  async check(): Promise<{ update: CertificateUpdate; changed: boolean }> {
    const { rest, namespace, secretName: name } = this.#o;
    let secret: V1Secret | undefined;
    try {
      secret = await rest.request<V1Secret>('GET', secretPath(namespace, name));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const stored = secret ? fromSecret(secret) : undefined;
    let material = stored;
    if (this.#o.policy) {
      material = await rotate(stored, (this.#o.now ?? Date.now)(), this.#o.policy);
      if (material !== stored) material = await this.#write(secret, material);
    }
    if (!material) throw new Error(`Secret ${namespace}/${name} has no tls.crt and tls.key yet`);
    const update: CertificateUpdate = {
      cert: material.cert,
      key: material.key,
      ...(this.#o.policy ? { bundle: material.bundle } : {}),
    };
    const changed =
      this.#last?.cert !== update.cert ||
      this.#last?.key !== update.key ||
      this.#last?.bundle !== update.bundle;
    this.#last = update;
    return { update, changed };
  }

  async #write(existing: V1Secret | undefined, m: TlsMaterial): Promise<TlsMaterial | undefined> {
    const { rest, namespace, secretName: name, log } = this.#o;
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name,
        namespace,
        ...(existing?.metadata?.resourceVersion
          ? { resourceVersion: existing.metadata.resourceVersion }
          : {}),
        labels: { ...existing?.metadata?.labels, 'app.kubernetes.io/managed-by': 'mailroom' },
        annotations: { ...existing?.metadata?.annotations, [CA_SINCE_ANNOTATION]: String(m.caSince) },
      },
      data: Object.fromEntries(
        Object.entries(KEYS).map(([field, key]) => [key, b64(String(m[field as keyof TlsMaterial]))]),
      ),
    };
    try {
      if (existing) await rest.request('PUT', secretPath(namespace, name), { body });
      else await rest.request('POST', secretPath(namespace), { body });
      log.info({ secret: `${namespace}/${name}` }, 'webhook certificate renewed');
      return m;
    } catch (err) {
      // Another replica renewed first: use what it stored.
      if (statusOf(err) !== 409) throw err;
      log.debug({ secret: `${namespace}/${name}` }, 'webhook certificate renewed by another replica');
      return fromSecret(await rest.request<V1Secret>('GET', secretPath(namespace, name)));
    }
  }
}
