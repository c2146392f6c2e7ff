/**
 * Fakes for reconciler unit tests: an in-memory API server for the calls the reconciler makes, a
 * sender builder and a scripted probe.
 */
import { randomUUID } from 'node:crypto';
import {
  API_VERSION,
  type EmailSender,
  type EmailSenderSpecInput,
  type EmailSenderStatus,
  KIND,
} from '../../src/api/emailsender.ts';
import { ProbeCache } from '../../src/controller/probe-cache.ts';
import type { ReconcilerDeps } from '../../src/controller/sync.ts';
import type {
  ConfigSecret,
  ConfigSecretWrite,
  EventNote,
  KubeClient,
  ProbeOptions,
  PublishedConfig,
  ReconcileResult,
  SenderRef,
} from '../../src/controller/types.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import type { ProbeResult } from '../../src/smtp/probe-result.ts';
import type { SmtpEndpoint } from '../../src/smtp/uri.ts';

/** An in-memory stand-in for the API calls of the reconciler. */
export class FakeKube implements KubeClient {
  secrets = new Map<string, Record<string, string>>();
  /** `metadata.uid` of each Secret: kept across updates, new when it is created again. */
  uids = new Map<string, string>();
  /** `metadata.resourceVersion` of each Secret: new on every write. */
  versions = new Map<string, string>();
  configs = new Map<string, ConfigSecret>();
  /** Secrets of config names that no sender controls (`namespace/name` → who controls them). */
  foreign = new Map<string, string | undefined>();
  statusPatches: Array<{ key: string; resourceVersion?: string; status: unknown }> = [];
  #rv = 100;
  #secretRv = 0;

  setSecret(namespace: string, name: string, data: Record<string, string> | undefined): void {
    const key = `${namespace}/${name}`;
    if (data) {
      this.secrets.set(key, data);
      if (!this.uids.has(key)) this.uids.set(key, randomUUID());
      this.versions.set(key, `s${++this.#secretRv}`);
    } else {
      this.secrets.delete(key);
      this.uids.delete(key);
      this.versions.delete(key);
    }
  }

  async readSecret(namespace: string, name: string) {
    const data = this.secrets.get(`${namespace}/${name}`);
    return data && { uid: this.uids.get(`${namespace}/${name}`) ?? '', data };
  }

  async writeConfigSecret(secret: ConfigSecret): Promise<ConfigSecretWrite> {
    const key = `${secret.namespace}/${secret.name}`;
    if (this.foreign.has(key)) {
      const heldBy = this.foreign.get(key);
      return heldBy ? { written: false, heldBy } : { written: false };
    }
    const current = this.configs.get(key);
    if (current && current.owner.uid !== secret.owner.uid)
      return { written: false, heldBy: `EmailSender ${current.owner.name}` };
    this.configs.set(key, secret);
    return { written: true };
  }

  async deleteConfigSecret(namespace: string, name: string) {
    this.configs.delete(`${namespace}/${name}`);
  }

  async patchStatus(ref: SenderRef, resourceVersion: string | undefined, status: unknown) {
    this.statusPatches.push({
      key: ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name,
      ...(resourceVersion ? { resourceVersion } : {}),
      status: structuredClone(status),
    });
    return String(++this.#rv);
  }

  published(namespace: string, secretName: string, ownerUid: string): PublishedConfig | undefined {
    const c = this.configs.get(`${namespace}/${secretName}`);
    if (!c || c.owner.uid !== ownerUid) return undefined;
    return { secretName: c.name, revision: c.revision, publishedAt: c.publishedAt };
  }
}

/** An EmailSender with sensible defaults. */
export function sender(
  name: string,
  spec: Partial<EmailSenderSpecInput> = {},
  meta: Partial<EmailSender['metadata']> = {},
): EmailSender {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace: 'mail', uid: `uid-${name}`, generation: 1, resourceVersion: '1', ...meta },
    spec: {
      smtp: { uriSecretRef: { name: 'smtp', key: 'uri' } },
      from: { address: 'no-reply@example.com' },
      ...spec,
    },
  };
}

/** A successful probe result for an endpoint. */
export function okResult(endpoint: SmtpEndpoint, extra: Partial<ProbeResult> = {}): ProbeResult {
  return {
    ok: true,
    reason: 'Verified',
    message: `STARTTLS (TLSv1.3) to ${endpoint.host}:${endpoint.port}; AUTH PLAIN accepted; 12 ms`,
    step: 'quit',
    security: endpoint.security,
    endpoint: `${endpoint.host}:${endpoint.port}`,
    durationMs: 12,
    greeting: '220 test ESMTP',
    extensions: ['STARTTLS', 'AUTH PLAIN LOGIN'],
    authMechanisms: ['PLAIN', 'LOGIN'],
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    warnings: [],
    ...extra,
  };
}

/** A probe that answers from `script` (default: success) and counts its calls. */
export function scriptedProbe(
  script?: (endpoint: SmtpEndpoint, opts?: ProbeOptions) => Partial<ProbeResult>,
) {
  const calls: Array<{ endpoint: SmtpEndpoint; opts?: ProbeOptions }> = [];
  const fn = async (endpoint: SmtpEndpoint, opts?: ProbeOptions): Promise<ProbeResult> => {
    calls.push({ endpoint, ...(opts ? { opts } : {}) });
    return okResult(endpoint, script?.(endpoint, opts));
  };
  return { fn, calls };
}

/** A clock the test moves. */
export function manualClock(start = '2026-05-01T10:00:00Z') {
  let t = new Date(start).getTime();
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

/** Reconciler dependencies wired to fakes. */
export function fakeDeps(opts: {
  senders: Map<string, EmailSender>;
  kube?: FakeKube;
  probe?: ReconcilerDeps['probe'];
}) {
  const kube = opts.kube ?? new FakeKube();
  const clock = manualClock();
  const events: Array<{ sender: string; note: EventNote }> = [];
  const lines: string[] = [];
  const deps: ReconcilerDeps = {
    kube,
    probe: opts.probe ?? scriptedProbe().fn,
    probeCache: new ProbeCache(clock),
    clock,
    localName: 'controller.test',
    published: (ns, name, uid) => kube.published(ns, name, uid),
    secretVersion: (ns, name) => kube.versions.get(`${ns}/${name}`),
    getSender: (ns, name) => opts.senders.get(`${ns}/${name}`),
    recordEvent: (s, note) => events.push({ sender: `${s.metadata.namespace}/${s.metadata.name}`, note }),
    log: createLogger({ level: 'debug', destination: { write: (l: string) => lines.push(l) } }),
  };
  return { deps, kube, clock, events, lines };
}

/**
 * Reconciles one sender as the controller would and feeds the status it wrote back into the object,
 * as the informer would bring it back: `run(s)` stores `s`, reconciles its key, returns the result.
 */
export function statusFeedbackRunner(
  reconcile: (key: string) => Promise<ReconcileResult>,
  kube: FakeKube,
  senders: Map<string, EmailSender>,
): (s: EmailSender) => Promise<ReconcileResult> {
  return async (s) => {
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    senders.set(key, s);
    const before = kube.statusPatches.length;
    try {
      return await reconcile(key);
    } finally {
      const last = kube.statusPatches.at(-1);
      if (kube.statusPatches.length > before && last) s.status = last.status as EmailSenderStatus;
    }
  };
}
