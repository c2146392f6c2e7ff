/**
 * The sidecar sender, wired: queue store, config (file watcher or flags), delivery worker, SMTP and
 * HTTP front doors, retention. `mailroom sidecar` and the tests start it through {@link startSidecar}.
 *
 * @module
 */
import type { AddressInfo } from 'node:net';
import type { Check } from '../runtime/health.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Registry } from '../runtime/metrics.ts';
import { ByteBudget } from './budget.ts';
import { type ActiveConfig, activateText } from './config.ts';
import { type ConfigState, ConfigWatcher } from './config-watcher.ts';
import { createHttpDoor } from './http-door.ts';
import { DEFAULT_MAX_QUEUE_BYTES, defaultInFlightBytes } from './limits.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from './message.ts';
import { createMetrics } from './metrics.ts';
import { createSmtpDoor } from './smtp-door.ts';
import { type CorruptQueue, QueueStore } from './store.ts';
import { DeliveryWorker } from './worker.ts';

/** `host:port` to listen on. */
export interface Listen {
  host: string;
  port: number;
}

/** Where the config comes from. */
export type ConfigSource =
  | { kind: 'file'; path: string; parse?: (text: string, source: string) => ActiveConfig }
  | { kind: 'static'; config: ActiveConfig };

export interface SidecarOptions {
  dataDir: string;
  config: ConfigSource;
  logger: Logger;
  smtpListen?: Listen;
  httpListen?: Listen;
  maxMessageBytes?: number;
  smtpAuth?: { user: string; pass: string };
  maxInFlight?: number;
  maxConnections?: number;
  retryBaseMs?: number;
  /** How long sent and abandoned messages stay in the log; default 7 days. */
  retentionMs?: number;
  /** Bytes of messages held in memory at once, doors and worker together; default from the heap. */
  maxInFlightBytes?: number;
  /** Quota of the queue on disk; default 160 MiB. */
  maxQueueBytes?: number;
  /** Spare file kept for a full disk, bytes; default 8 MiB. */
  spareBytes?: number;
  /** Longest a send may take before it counts as failed, ms; default 5 min. */
  sendTimeoutMs?: number;
  /** Attempts ending in a crash before a message is abandoned; default 3. */
  maxCrashes?: number;
  /** Bearer token the HTTP API requires, when set. */
  httpToken?: string;
  /** Group-commit window in ms; default 2. */
  commitWindowMs?: number;
  /** Config file re-read interval in ms; default 2000. */
  configPollMs?: number;
}

/** A running sidecar. */
export interface Sidecar {
  smtpPort: number;
  httpPort: number;
  store: QueueStore;
  worker: DeliveryWorker;
  configState(): ConfigState;
  /** The sidecar's metrics, also served on the HTTP door (`--metrics-listen` serves them alone). */
  registry: Registry;
  /**
   * Liveness (the queue answers a query) and readiness (a config is loaded) as checks of
   * `src/runtime/health.ts`: the HTTP door answers `/healthz` with the first, and `--metrics-listen`
   * serves both on the pod IP.
   */
  checks: { healthz: Check[]; readyz: Check[] };
  /** Stops accepting, lets deliveries under way finish (up to `timeoutMs`), closes the queue. */
  stop(timeoutMs?: number): Promise<void>;
}

const listen = (server: { listen: (port: number, host: string, cb: () => void) => unknown }, l: Listen) =>
  new Promise<void>((resolve, reject) => {
    const s = server as unknown as NodeJS.EventEmitter;
    s.once('error', reject);
    server.listen(l.port, l.host, () => {
      s.off('error', reject);
      resolve();
    });
  });

/** Starts a sidecar and resolves once both doors listen. */
export async function startSidecar(o: SidecarOptions): Promise<Sidecar> {
  const { logger } = o;
  const maxMessageBytes = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const store = new QueueStore(o.dataDir, {
    windowMs: o.commitWindowMs ?? 2,
    maxQueueBytes: o.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
    ...(o.spareBytes !== undefined ? { spareBytes: o.spareBytes } : {}),
    ...(o.maxCrashes !== undefined ? { maxCrashes: o.maxCrashes } : {}),
  });
  const { recovered, poisoned } = store;
  // Half the byte budget for messages being accepted, half for messages being sent: a stalled
  // upstream cannot starve the doors, nor a burst of arrivals the deliveries.
  const inFlightBytes = o.maxInFlightBytes ?? defaultInFlightBytes();
  const acceptBudget = new ByteBudget(Math.floor(inFlightBytes / 2));
  const sendBudget = new ByteBudget(Math.floor(inFlightBytes / 2));
  const metrics = createMetrics(() => store.counts(), {
    diskUsed: () => store.disk.used(),
    maxQueueBytes: store.disk.maxQueueBytes,
    oldestWaitingAt: () => store.oldestWaitingAt(),
    budgets: { accept: acceptBudget, send: sendBudget },
    commits: () => store.commits,
  });
  const corrupt = (e: CorruptQueue, when: string) => {
    metrics.queueCorrupt.inc();
    const { requeued, damaged, history, unreadable } = e.salvage;
    logger.error(
      { movedTo: e.path, problem: e.problem, requeued, damaged, history, unreadable },
      `the queue file ${when}: moved it aside and started a fresh queue with what could still be read from it ` +
        `(${requeued} messages to deliver, ${damaged} abandoned as damaged${unreadable ? ', some rows unreadable: their mail stays in the file' : ''})`,
    );
  };
  if (store.movedAside) corrupt(store.movedAside, 'was corrupt or unreadable');
  store.onCorrupt = (e) => {
    corrupt(e, 'turned corrupt while running');
    worker.queueChanged();
  };
  if (store.opening) logger.error(store.opening);
  store.onOpened = (r) => {
    logger.info({ recovered: r.recovered }, 'the queue disk has room: opened the queue');
    if (r.poisoned > 0)
      logger.error(
        { messages: r.poisoned },
        'abandoned messages whose attempts kept ending with the sidecar stopping',
      );
    worker.queueChanged();
  };
  if (poisoned > 0)
    logger.error(
      { messages: poisoned },
      'abandoned messages whose attempts kept ending with the sidecar stopping',
    );
  const worker = new DeliveryWorker({
    store,
    logger,
    metrics,
    budget: sendBudget,
    ...(o.maxInFlight ? { maxInFlight: o.maxInFlight } : {}),
    ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}),
    ...(o.retryBaseMs !== undefined ? { retryBaseMs: o.retryBaseMs } : {}),
    ...(o.sendTimeoutMs !== undefined ? { sendTimeoutMs: o.sendTimeoutMs } : {}),
  });

  let watcher: ConfigWatcher | undefined;
  let staticState: ConfigState = {};
  const apply = (cfg: ActiveConfig) => {
    try {
      worker.setConfig(cfg);
      metrics.configReloads.inc({ result: 'applied' });
      metrics.configInfo.reset();
      metrics.configInfo.set({ revision: cfg.config.revision, security: cfg.endpoint.security }, 1);
      // Every series names its sender, so one PodMonitor over all pods still tells senders apart.
      metrics.registry.setDefaultLabels({
        sender_namespace: cfg.config.sender.namespace,
        sender_name: cfg.config.sender.name,
      });
    } catch (err) {
      metrics.configReloads.inc({ result: 'refused' });
      logger.error({ err }, 'the config could not be applied; keeping the previous one');
    }
  };
  if (o.config.kind === 'file') {
    watcher = new ConfigWatcher({
      path: o.config.path,
      parse: o.config.parse ?? activateText,
      logger,
      ...(o.configPollMs ? { pollMs: o.configPollMs } : {}),
    });
    watcher.on('change', apply);
  } else {
    staticState = { current: o.config.config };
  }
  const configState = () => watcher?.state ?? staticState;
  const checks = {
    healthz: [
      {
        name: 'queue',
        check: (): true => {
          store.db.prepare('SELECT 1').get();
          return true;
        },
      },
    ],
    readyz: [
      {
        name: 'config',
        check: () => (configState().current ? true : (configState().problem ?? 'no config loaded yet')),
      },
    ],
  };

  const onQueued = () => worker.notify();
  const smtp = createSmtpDoor({
    store,
    logger,
    metrics,
    maxMessageBytes,
    budget: acceptBudget,
    onQueued,
    smtputf8: () => worker.smtputf8,
    ...(o.smtpAuth ? { auth: o.smtpAuth } : {}),
  });
  const http = createHttpDoor({
    store,
    logger,
    metrics,
    maxMessageBytes,
    budget: acceptBudget,
    ...(o.httpToken ? { token: o.httpToken } : {}),
    configState,
    health: checks.healthz,
    inFlight: () => worker.inFlight,
    onQueued,
    smtputf8: () => worker.smtputf8,
  });

  worker.start();
  if (watcher) await watcher.start();
  else if (o.config.kind === 'static') apply(o.config.config);

  await listen(smtp.server, o.smtpListen ?? { host: '127.0.0.1', port: 1025 });
  await listen(http, o.httpListen ?? { host: '127.0.0.1', port: 8025 });
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const httpPort = (http.address() as AddressInfo).port;
  worker.askUpstream();

  const retentionMs = o.retentionMs ?? 7 * 86_400_000;
  const purge = () =>
    store.purge(Date.now() - retentionMs).then(
      (n) => {
        if (n) logger.info({ removed: n }, 'removed finished messages past retention');
      },
      (err: unknown) => logger.warn({ err }, 'retention cleanup failed'),
    );
  void purge();
  const purgeTimer = setInterval(purge, Math.min(retentionMs, 600_000));
  purgeTimer.unref();
  let diskFullLogged = false;
  // Disk upkeep: freed pages back to the filesystem; after a full disk, acceptance resumes here.
  const diskTimer = setInterval(() => {
    try {
      if (store.disk.tick()) {
        diskFullLogged = false;
        logger.info('the queue disk has room again: accepting new mail');
      }
    } catch (err) {
      logger.warn({ err }, 'queue disk upkeep failed');
    }
  }, 1000);
  diskTimer.unref();
  store.committer.onError = (err) => {
    if (store.disk.onWriteError(err) && !diskFullLogged) {
      diskFullLogged = true;
      logger.error({ err }, 'the queue disk is full: refusing new mail, still delivering what is queued');
    }
  };
  logger.info(
    {
      smtpPort,
      httpPort,
      dataDir: o.dataDir,
      recovered,
      queued: store.counts().queued,
      inFlightBytes,
      maxQueueBytes: store.disk.maxQueueBytes,
    },
    'sidecar listening',
  );

  let stopping: Promise<void> | undefined;
  return {
    smtpPort,
    httpPort,
    store,
    worker,
    configState,
    registry: metrics.registry,
    checks,
    stop(timeoutMs = 10_000) {
      stopping ??= (async () => {
        clearInterval(purgeTimer);
        clearInterval(diskTimer);
        watcher?.stop();
        await Promise.all([
          new Promise<void>((r) => smtp.close(() => r())),
          new Promise<void>((r) => {
            http.close(() => r());
            http.closeAllConnections();
          }),
        ]);
        await worker.stop(timeoutMs);
        store.close();
      })();
      return stopping;
    },
  };
}
