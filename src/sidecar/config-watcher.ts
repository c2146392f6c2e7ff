/**
 * Follows a config file that the kubelet may replace at any time. A mounted Secret is a directory
 * whose files are symlinks into `..data`, itself a symlink that the kubelet swaps atomically; so the
 * directory is watched (`fs.watch` sees the swap) and, because inotify events can be missed on some
 * volumes, the file is also read again on a timer. A change is adopted only when the new text
 * validates; otherwise the last good config stays and the problem is reported.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, readFile as readFileCallback, watch } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../runtime/logger.ts';
import { type ActiveConfig, ConfigError } from './config.ts';

// node:fs's callback API, not node:fs/promises: loading that module loads readline's interface
// and the REPL's history with it (for FileHandle.readLines), ~0.6 MB resident that the idle
// sidecar otherwise never spends (see the commit).
const readFile = promisify(readFileCallback);

export interface ConfigWatcherOptions {
  path: string;
  /** Turns the file's text into a config; throws {@link ConfigError} when it is not one. */
  parse: (text: string, source: string) => ActiveConfig;
  /** Re-read interval in ms; default 2000. */
  pollMs?: number;
  logger: Logger;
}

/** The watcher's view, for `/readyz`. */
export interface ConfigState {
  current?: ActiveConfig;
  /** Why there is no config, or why the newest file was not adopted. */
  problem?: string;
}

/**
 * Emits `change` with each newly adopted {@link ActiveConfig}.
 *
 * @example
 * const w = new ConfigWatcher({ path: '/etc/mailroom/config.json', parse: activateText, logger });
 * w.on('change', (cfg) => worker.setConfig(cfg));
 * await w.start();
 */
export class ConfigWatcher extends EventEmitter<{ change: [ActiveConfig] }> {
  readonly #opts: ConfigWatcherOptions;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #lastText: string | undefined;
  #reading: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  state: ConfigState = {};

  constructor(opts: ConfigWatcherOptions) {
    super();
    this.#opts = opts;
    this.state = { problem: `waiting for the config file ${opts.path}` };
  }

  /** Reads the file once and starts following it. */
  async start(): Promise<void> {
    this.#watch();
    await this.check();
    this.#timer = setInterval(() => {
      if (!this.#watcher) this.#watch();
      void this.check();
    }, this.#opts.pollMs ?? 2000);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#debounce) clearTimeout(this.#debounce);
  }

  #watch(): void {
    try {
      this.#watcher = watch(dirname(this.#opts.path), { persistent: false }, () => {
        // A swap fires several events; read once they settle.
        if (this.#debounce) clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => void this.check(), 20);
      });
      this.#watcher.on('error', () => {
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      // The directory is not there yet (volume not mounted): the poll keeps trying.
      this.#watcher = undefined;
    }
  }

  /** Reads the file now and adopts it when it changed and validates. Serialised. */
  check(): Promise<void> {
    if (this.#reading) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = this.#read().finally(() => {
      this.#reading = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.check();
      }
    });
    return this.#reading;
  }

  async #read(): Promise<void> {
    const { path, logger } = this.#opts;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const problem =
        code === 'ENOENT'
          ? `the config file ${path} does not exist (yet): mail is accepted and queued until it does`
          : `the config file ${path} cannot be read (${code ?? 'error'})`;
      this.#lastText = undefined;
      this.#report(problem, this.state.current ? 'warn' : 'info');
      return;
    }
    if (text === this.#lastText || this.#stopped) return;
    this.#lastText = text;
    let next: ActiveConfig;
    try {
      next = this.#opts.parse(text, path);
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : `${path}: ${(err as Error).message}`;
      const keep = this.state.current
        ? `; still delivering with revision ${this.state.current.config.revision}`
        : '; nothing is delivered until a valid config arrives';
      this.#report(`the config was refused: ${message}${keep}`, 'error');
      return;
    }
    const previous = this.state.current?.config.revision;
    this.state = { current: next };
    if (previous === next.config.revision) return;
    logger.info(
      { revision: next.config.revision, previous, security: next.endpoint.security, source: path },
      previous ? 'config reloaded' : 'config loaded',
    );
    for (const w of next.warnings) logger.warn({ code: w.code }, w.message);
    this.emit('change', next);
  }

  #report(problem: string, level: 'info' | 'warn' | 'error'): void {
    if (this.state.problem !== problem) this.#opts.logger[level]({ path: this.#opts.path }, problem);
    this.state = { ...this.state, problem };
  }
}
