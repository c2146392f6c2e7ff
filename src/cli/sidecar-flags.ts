/**
 * The flags of `mailroom sidecar`, declared once as data: `registerSidecarCommands` (sidecar.ts)
 * builds the commander command from them, and {@link parseSidecarArgs} reads them without commander.
 *
 * Why two readers: the injected sidecar starts with every pod, and commander is ~54K of code to load
 * and run before the sidecar can start. So `mailroom sidecar …` reads its flags with Node's own
 * `util.parseArgs` and the same parse functions below; only when that reader declines (`--help`, an
 * unknown flag, a missing or bad value, anything it is not sure of) does the program load commander,
 * which then prints its usual help or error. A command line both accept yields the same flags from
 * both (sidecar-flags.test.ts compares them).
 *
 * @module
 */
import { parseDuration } from '../api/duration.ts';
import { DEFAULT_MAX_QUEUE_BYTES } from '../sidecar/limits.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../sidecar/message.ts';
import type { Listen } from '../sidecar/sidecar.ts';

/**
 * A flag value that is refused, with what would be valid. Its `code` is commander's own for an
 * invalid argument, so commander prints it as it prints its InvalidArgumentError
 * ("error: option '--x <y>' argument 'z' is invalid. <message>") and exits 1.
 */
export class InvalidFlagError extends Error {
  readonly code = 'commander.invalidArgument';
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFlagError';
  }
}

/** Parses `host:port` (`[::1]:1025` for IPv6). */
export function parseListen(text: string): Listen {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new InvalidFlagError(`expected host:port (e.g. 127.0.0.1:1025), got "${text}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Parses a size: `10485760`, `512KB`, `10MB`. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(text.trim());
  if (!m) throw new InvalidFlagError(`expected a size such as 10MB, 512KB or 1GB, got "${text}"`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const mult = unit.startsWith('K')
    ? 1024
    : unit.startsWith('M')
      ? 1024 ** 2
      : unit.startsWith('G')
        ? 1024 ** 3
        : 1;
  return Number(m[1]) * mult;
}

const duration = (text: string): number => {
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new InvalidFlagError(`expected a duration such as 30s, 5m or 1h, got "${text}"`);
  return ms;
};

/** Parses a positive integer (`--limit`, `--max-attempts`, …). */
export const positiveInt = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidFlagError(`expected a positive integer, got "${text}"`);
  return n;
};

const header = (text: string, prev: Record<string, string> = {}): Record<string, string> => {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new InvalidFlagError(`expected "Name: value", got "${text}"`);
  return { ...prev, [text.slice(0, colon).trim()]: text.slice(colon + 1).trim() };
};

/** The flags of `mailroom sidecar`, as either reader gives them. */
export interface SidecarFlags {
  config?: string;
  uri?: string;
  uriFile?: string;
  from?: string;
  fromName?: string;
  caFile?: string;
  localName?: string;
  header?: Record<string, string>;
  maxAttempts?: number;
  maxBackoff?: number;
  rate?: number;
  dataDir: string;
  smtpListen: Listen;
  httpListen: Listen;
  metricsListen?: string;
  maxMessageSize: number;
  smtpAuth?: string;
  maxConnections?: number;
  maxInFlight?: number;
  retryBase?: number;
  retention?: number;
  maxInFlightBytes?: number;
  maxQueueBytes?: number;
  sendTimeout?: number;
  httpToken?: string;
  logLevel: string;
}

/** One flag: commander's flags text (`--name <value>`), its help, and how its value is read. */
export interface FlagSpec {
  flags: `--${string} <${string}>`;
  description: string;
  /** Reads one occurrence; `previous` is the value so far (the default, or the last occurrence). */
  // biome-ignore lint/suspicious/noExplicitAny: each flag's parser has its own value type.
  parse?: (text: string, previous: any) => unknown;
  default?: unknown;
  /** Environment variable read when the flag is absent (commander's `Option.env`). */
  env?: string;
}

/** The flags of `mailroom sidecar`, with the defaults `env` gives. */
export function sidecarFlagSpecs(env: NodeJS.ProcessEnv = process.env): FlagSpec[] {
  return [
    {
      flags: '--config <path>',
      description: 'rendered config file (the mounted Secret, key config.json)',
      default: env.MAILROOM_CONFIG,
    },
    {
      flags: '--uri <uri>',
      description: 'SMTP URI, outside Kubernetes (prefer --uri-file or MAILROOM_SMTP_URI: argv is visible)',
    },
    { flags: '--uri-file <path>', description: 'file holding the SMTP URI (followed for changes)' },
    { flags: '--from <address>', description: 'sender address (From and MAIL FROM)' },
    { flags: '--from-name <name>', description: 'sender display name' },
    { flags: '--ca-file <pem>', description: 'extra trusted CA certificates for the SMTP server' },
    { flags: '--local-name <name>', description: 'EHLO name (default: the host name)' },
    {
      flags: '--header <name:value>',
      description: 'header added to every message (repeatable)',
      parse: header,
    },
    {
      flags: '--max-attempts <n>',
      description: 'attempts before a message is abandoned (default 6)',
      parse: positiveInt,
    },
    {
      flags: '--max-backoff <duration>',
      description: 'longest wait between attempts (default 1h)',
      parse: duration,
    },
    {
      flags: '--rate <perSecond>',
      description: 'messages per second at most (default 0: no limit)',
      parse: Number,
    },
    {
      flags: '--data-dir <dir>',
      description: 'queue directory',
      default: env.MAILROOM_DATA_DIR ?? './mailroom-data',
    },
    {
      flags: '--smtp-listen <host:port>',
      description: 'SMTP front door',
      parse: parseListen,
      default: parseListen('127.0.0.1:1025'),
    },
    {
      flags: '--http-listen <host:port>',
      description: 'HTTP API, health, metrics and delivery page',
      parse: parseListen,
      default: parseListen('127.0.0.1:8025'),
    },
    {
      flags: '--metrics-listen <host:port>',
      description:
        'also serve /metrics alone here, e.g. :9025 for Prometheus on the pod IP (the doors stay on loopback)',
      parse: (v: string) => {
        parseListen(v);
        return v;
      },
    },
    {
      flags: '--max-message-size <size>',
      description: 'largest message accepted (e.g. 10MB)',
      parse: parseSize,
      default: DEFAULT_MAX_MESSAGE_BYTES,
    },
    {
      flags: '--smtp-auth <user:pass>',
      description: 'require this login on the SMTP door',
      env: 'MAILROOM_SMTP_AUTH',
    },
    {
      flags: '--max-connections <n>',
      description: 'upstream connections at most (default 4)',
      parse: positiveInt,
    },
    {
      flags: '--max-in-flight <n>',
      description: 'messages being delivered at once (default 32)',
      parse: positiveInt,
    },
    {
      flags: '--retry-base <duration>',
      description: 'first retry delay, doubling up to --max-backoff (default 5s)',
      parse: duration,
    },
    {
      flags: '--retention <duration>',
      description: 'how long sent and abandoned messages stay in the log (default 168h)',
      parse: duration,
    },
    {
      flags: '--max-in-flight-bytes <size>',
      description: 'memory for messages being accepted and sent (default: a third of the V8 heap limit)',
      parse: parseSize,
    },
    {
      flags: '--max-queue-bytes <size>',
      description: `quota of the queue on disk; new mail is refused beyond it (default ${DEFAULT_MAX_QUEUE_BYTES / 1024 ** 2}MiB)`,
      parse: parseSize,
    },
    {
      flags: '--send-timeout <duration>',
      description: 'longest one delivery attempt may take (default 5m)',
      parse: duration,
    },
    {
      flags: '--http-token <token>',
      description: 'require Authorization: Bearer <token> on the HTTP API',
      env: 'MAILROOM_HTTP_TOKEN',
    },
    { flags: '--log-level <level>', description: 'pino log level', default: env.LOG_LEVEL ?? 'info' },
  ];
}

/** `--max-in-flight-bytes <size>` → `max-in-flight-bytes`. */
const longName = (spec: FlagSpec): string => spec.flags.slice(2, spec.flags.indexOf(' '));
/** `max-in-flight-bytes` → `maxInFlightBytes`, as commander names the value. */
const attributeName = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Reads the arguments after `sidecar` without commander. Returns undefined when commander should
 * read them instead: `--help`, an unknown flag, a positional argument, a missing value, a value that
 * starts with "-", a value a parse function refuses. Otherwise returns what commander would: each
 * occurrence of a flag read by its parse function in order, starting from its default; an absent
 * flag with an `env` variable set read from there; absent flags without a default left out.
 */
export function parseSidecarArgs(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): SidecarFlags | undefined {
  const specs = sidecarFlagSpecs(env);
  const { parseArgs } = process.getBuiltinModule('node:util');
  let given: Record<string, string[] | undefined>;
  try {
    given = parseArgs({
      args: [...args],
      options: Object.fromEntries(specs.map((s) => [longName(s), { type: 'string', multiple: true }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string[] | undefined>;
  } catch {
    return undefined;
  }
  const flags: Record<string, unknown> = {};
  try {
    for (const spec of specs) {
      const name = longName(spec);
      const texts = given[name] ?? (spec.env && env[spec.env] !== undefined ? [env[spec.env]!] : []);
      let value = spec.default;
      for (const text of texts) value = spec.parse ? spec.parse(text, value) : text;
      if (value !== undefined) flags[attributeName(name)] = value;
    }
  } catch (err) {
    if (err instanceof InvalidFlagError) return undefined;
    throw err;
  }
  return flags as unknown as SidecarFlags;
}
