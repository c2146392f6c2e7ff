/**
 * The `EmailSender` API (group `mailroom.dev`, version `v1alpha1`): the one source of truth for the
 * CRD in `crds/`, the controller, `mailroom validate` and the sidecar's rendered config.
 *
 * Every field carries a description, so `kubectl explain emailsender.spec` teaches.
 *
 * @module
 */
import * as z from 'zod';
import { SECURITY_MODES } from '../smtp/uri.ts';
import { durationRangeRule, keysNotInRule } from './cel.ts';
import { durationSchema, formatDuration, parseDuration } from './duration.ts';
import {
  type API_VERSION,
  fromSchema,
  headerNameSchema,
  headerValueSchema,
  MAX_HEADERS,
  RESERVED_HEADERS,
  reservedHeaderMessage,
} from './message-fields.ts';

/** A duration the schema has already checked, in milliseconds. */
const toMs = (text: string): number => parseDuration(text) as number;

export {
  API_VERSION,
  fromSchema,
  GROUP,
  HEADER_NAME_PATTERN,
  headerNameSchema,
  headerValueSchema,
  MAX_HEADERS,
  RESERVED_HEADERS,
  reservedHeaderMessage,
  VERSION,
} from './message-fields.ts';
export const KIND = 'EmailSender';
export const PLURAL = 'emailsenders';

const dnsSubdomain = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
    error: 'must be a lowercase DNS subdomain name (letters, digits, "-", ".")',
  });

/**
 * A duration field. The range check is a zod refinement, which JSON Schema cannot carry, so it is
 * repeated as a CEL rule for the CRD; maxLength keeps that rule's cost bounded.
 */
const duration = (minMs: number, maxMs: number) =>
  durationSchema(minMs, maxMs)
    .max(32)
    .meta({
      'x-kubernetes-validations': [
        durationRangeRule(
          minMs,
          maxMs,
          `must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}`,
        ),
      ],
    });

const secretKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, { error: 'must be a Secret data key (letters, digits, "-", "_", ".")' });

/**
 * Where a kind reads the Secrets its spec names, in the words of its field descriptions: an
 * EmailSender reads its own namespace, a ClusterEmailSender the cluster-resource namespace. The
 * spec is one schema for both kinds; only these words differ, so `kubectl explain` tells each the truth.
 */
export interface SecretScope {
  /** Completes "Name of the Secret, … that holds X.", e.g. "in the EmailSender's own namespace". */
  name: string;
  /** Completes "Reference to X in a Secret …". */
  reference: string;
}

/** The EmailSender's scope: Secrets of its own namespace. */
export const NAMESPACE_SECRETS: SecretScope = {
  name: "in the EmailSender's own namespace",
  reference: 'of the same namespace (no namespace field: cross-namespace references are not allowed)',
};

const secretKeySelector = (what: string, defaultKey: string, scope: SecretScope) =>
  z
    .strictObject({
      name: dnsSubdomain.describe(`Name of the Secret, ${scope.name}, that holds ${what}.`),
      key: secretKey.default(defaultKey).describe(`Key in the Secret's data that holds ${what}.`),
    })
    .describe(`Reference to ${what} in a Secret ${scope.reference}.`);

const hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/, {
    error: 'must be a DNS name such as mail.example.com',
  });

const smtpSpec = (scope: SecretScope) =>
  z
    .strictObject({
      uriSecretRef: secretKeySelector(
        'the SMTP connection URI (smtp://user:password@host:587/)',
        'uri',
        scope,
      ),
      localName: hostname
        .optional()
        .describe('Name announced in EHLO. Default: the pod host name (never "localhost").'),
      caSecretRef: secretKeySelector(
        'a PEM bundle of CA certificates trusted for this server',
        'ca.crt',
        scope,
      )
        .optional()
        .describe(
          'Extra trust for a server whose certificate chains to a private CA. Added to the system roots.',
        ),
    })
    .describe('How to reach the SMTP server.');

export const smtpSpecSchema = smtpSpec(NAMESPACE_SECRETS);

export const probeSpecSchema = z
  .strictObject({
    interval: duration(10_000, 24 * 3_600_000)
      .default('10m')
      .describe('How often the server is probed again while nothing changes (10s to 24h).'),
    timeout: duration(1000, 120_000).default('10s').describe('Time limit for one whole probe (1s to 2m).'),
    authenticate: z.boolean().default(true).describe('Log in with the URI credentials during the probe.'),
    checkSender: z
      .boolean()
      .default(false)
      .describe('Also send MAIL FROM with the sender address (then RSET) to check the server accepts it.'),
  })
  // Converted once, here: readers take the milliseconds, zod has supplied the defaults.
  .transform((p) => ({ ...p, intervalMs: toMs(p.interval), timeoutMs: toMs(p.timeout) }))
  .describe('How the controller checks the server.');

/** The probe interval when the spec cannot be read (zod's default, so there is one). */
export const DEFAULT_PROBE_INTERVAL_MS: number = probeSpecSchema.parse({}).intervalMs;

export const deliverySpecSchema = z
  .strictObject({
    maxAttempts: z.int().min(1).max(100).default(6).describe('Attempts per message before it is abandoned.'),
    maxBackoff: duration(1000, 7 * 24 * 3_600_000)
      .default('1h')
      .describe('Longest wait between two attempts (exponential backoff with jitter up to this).'),
    ratePerSecond: z
      .number()
      .min(0)
      .max(10_000)
      .default(0)
      .describe('Messages per second at most; 0 means no limit.'),
  })
  .transform((d) => ({ ...d, maxBackoffMs: toMs(d.maxBackoff) }))
  .describe('How the sidecar sender retries and paces delivery.');

const dkimSelector = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/, {
    error: 'must be a DNS label such as mailroom or s2026',
  });

const dkimSpec = (scope: SecretScope) =>
  z
    .strictObject({
      selector: dkimSelector.describe(
        'DKIM selector (the s= tag): the key is published at <selector>._domainkey.<domain>.',
      ),
      domain: hostname
        .optional()
        .describe(
          'Signing domain (the d= tag). Default: the domain of from.address, which DMARC aligns with.',
        ),
      privateKeySecretRef: secretKeySelector(
        'the DKIM private key (PEM, RSA: the signer does not take Ed25519)',
        'private.pem',
        scope,
      ),
    })
    .describe(
      'Sign every message with DKIM in the sidecar. `mailroom dkim keygen` makes a key and prints the TXT record to publish; the Deliverable condition checks that it is published.',
    );

export const dkimSpecSchema = dkimSpec(NAMESPACE_SECRETS);

/**
 * The spec every sender kind shares, with its Secret references described for `scope`. Both kinds
 * parse with it (a ClusterEmailSender extends it), so a field added here reaches both.
 */
export const senderSpecSchema = (scope: SecretScope) =>
  z
    .strictObject({
      smtp: smtpSpec(scope),
      from: fromSchema,
      headers: z
        .record(headerNameSchema, headerValueSchema)
        .refine((h) => Object.keys(h).length <= MAX_HEADERS, {
          error: `must hold at most ${MAX_HEADERS} headers`,
        })
        // The key refinement above is invisible to JSON Schema; the CRD repeats it in CEL.
        .meta({
          maxProperties: MAX_HEADERS,
          'x-kubernetes-validations': [keysNotInRule(RESERVED_HEADERS, reservedHeaderMessage)],
        })
        .optional()
        .describe(
          'Headers added to every message, e.g. X-SES-CONFIGURATION-SET. CR/LF and reserved names are refused.',
        ),
      dkim: dkimSpec(scope).optional(),
      probe: probeSpecSchema.prefault({}),
      delivery: deliverySpecSchema.prefault({}),
      suspend: z
        .boolean()
        .default(false)
        .describe('Stop probing and publishing; the last published config stays.'),
    })
    .describe('Desired state of an EmailSender: where and as whom an application sends email.');

export const emailSenderSpecSchema = senderSpecSchema(NAMESPACE_SECRETS);

export type EmailSenderSpec = z.infer<typeof emailSenderSpecSchema>;
export type EmailSenderSpecInput = z.input<typeof emailSenderSpecSchema>;

export const CONDITION_STATUS = ['True', 'False', 'Unknown'] as const;

export const conditionSchema = z
  .strictObject({
    type: z
      .string()
      .max(316)
      .describe(
        'Type of condition: Ready, Reconciling, Stalled, Deliverable, InsecureTLS, CertificateExpiringSoon.',
      ),
    status: z.enum(CONDITION_STATUS).describe('True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation this condition was computed from.'),
    lastTransitionTime: z.string().describe('When status last changed (RFC 3339).'),
    reason: z.string().max(1024).describe('One-word CamelCase reason, from a closed documented set.'),
    message: z.string().max(32768).describe('What happened and what to try; never holds a credential.'),
  })
  .describe('A condition, as in metav1.Condition.');

export type Condition = z.infer<typeof conditionSchema>;

const certificateSchema = z.strictObject({
  subject: z.string().describe('Certificate subject (CN and alternative names).'),
  issuer: z.string().describe('Issuer of the certificate.'),
  notAfter: z.string().describe('End of validity (RFC 3339).'),
  sha256: z.string().describe('SHA-256 fingerprint of the certificate.'),
});

export const lastProbeSchema = z
  .strictObject({
    time: z.string().describe('When the probe ran (RFC 3339).'),
    durationMs: z.int().min(0).describe('How long it took.'),
    result: z.string().optional().describe('The reason the probe ended with.'),
    greeting: z.string().optional().describe('The server greeting (220 line).'),
    extensions: z.array(z.string()).optional().describe('EHLO extensions announced by the server.'),
    authMechanisms: z.array(z.string()).optional().describe('AUTH mechanisms announced by the server.'),
    tls: z
      .strictObject({
        version: z.string().describe('Negotiated protocol, e.g. TLSv1.3.'),
        cipher: z.string().describe('Negotiated cipher suite.'),
        certificate: certificateSchema.optional().describe('The leaf certificate the server presented.'),
      })
      .optional()
      .describe('TLS facts, when the connection used TLS.'),
  })
  .describe('Facts from the most recent probe.');

const dnsRecordSchema = z.strictObject({
  name: z.string().describe('DNS name the TXT record was looked up at.'),
  record: z.string().optional().describe('The record as published, when one was found.'),
  result: z
    .string()
    .describe('What receivers conclude: pass, fail, softfail, neutral, none, permerror, temperror.'),
  meaning: z.string().describe('What that means for mail from this sender.'),
});

export const deliverabilityStatusSchema = z
  .strictObject({
    checkedAt: z.string().describe('When the DNS records were last checked (RFC 3339).'),
    domain: z.string().describe('The From domain checked.'),
    serverAddresses: z
      .array(z.string())
      .optional()
      .describe('Addresses of the SMTP server, as SPF was evaluated for them.'),
    spf: dnsRecordSchema.optional().describe('SPF record of the From domain.'),
    dkim: dnsRecordSchema.optional().describe('DKIM key record of spec.dkim (when the sidecar signs).'),
    dmarc: dnsRecordSchema.optional().describe('DMARC policy record that applies to the From domain.'),
  })
  .describe('SPF, DKIM and DMARC as receiving mail servers will see them (the Deliverable condition).');

export const emailSenderStatusSchema = z
  .strictObject({
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('Last metadata.generation the controller acted on.'),
    lastHandledReconcileAt: z
      .string()
      .optional()
      .describe('Last value of the reconcile.fluxcd.io/requestedAt annotation that was handled.'),
    endpoint: z.string().optional().describe('host:port of the SMTP server.'),
    security: z.enum(SECURITY_MODES).optional().describe('How the connection is protected.'),
    conditions: z
      .array(conditionSchema)
      .max(16)
      // One entry per type, so server-side apply and strategic merges key them by type.
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .optional()
      .describe('Ready, Reconciling, Stalled and warning conditions.'),
    lastProbe: lastProbeSchema.optional(),
    deliverability: deliverabilityStatusSchema.optional(),
    config: z
      .strictObject({
        secretName: z.string().describe('Secret holding the rendered config that sidecars read.'),
        revision: z
          .string()
          .describe(
            'Revision of the published config: a hash of its content keyed with the source Secret uids, so it cannot be used to guess a password.',
          ),
        publishedAt: z.string().describe('When that revision was published (RFC 3339).'),
        desiredRevision: z
          .string()
          .optional()
          .describe(
            'Revision of the current spec, when it differs from the published one (it failed its probe).',
          ),
      })
      .optional()
      .describe('The last known good config published for sidecars.'),
    consumers: z.int().min(0).optional().describe('Number of pods that use this sender.'),
  })
  .describe('Observed state of an EmailSender.');

export type EmailSenderStatus = z.infer<typeof emailSenderStatusSchema>;

/** Object metadata as far as Mailroom reads it. */
export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
}

export interface EmailSender {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: EmailSenderSpecInput;
  status?: EmailSenderStatus;
}
