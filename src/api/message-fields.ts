/**
 * What every message of a sender carries, as the API declares it: the sender identity (From) and
 * the extra headers, with the API's group and version. The EmailSender spec (emailsender.ts, which
 * re-exports all of this), the rendered config and the sidecar's HTTP API share these schemas.
 *
 * A module of its own so that the sidecar, which reads only the rendered config, does not build the
 * whole EmailSender and ClusterEmailSender schemas at start: zod builds each schema eagerly, and
 * those cost the sidecar ~40 ms of start-up and ~2 MB of heap (measured bundled, see the commit).
 *
 * @module
 */
import * as z from 'zod';

export const GROUP = 'mailroom.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Header names the sender sets itself, or that would let one sender impersonate another. */
export const RESERVED_HEADERS = [
  'from',
  'sender',
  'to',
  'cc',
  'bcc',
  'subject',
  'date',
  'message-id',
  'return-path',
  'received',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'dkim-signature',
] as const;

/** At most this many extra headers: bounds the cost of the CRD's CEL rules on header names. */
export const MAX_HEADERS = 64;

/** Why a reserved header name is refused (the schema's message, repeated by the CRD's CEL rule). */
export const reservedHeaderMessage = `is set by the sender itself and cannot be overridden (reserved: ${RESERVED_HEADERS.join(', ')})`;

/** A header field name (RFC 5322 ftext): printable ASCII without spaces or ":". */
export const HEADER_NAME_PATTERN = /^[!-9;-~]+$/;

/** A header name the sender may add: ftext, at most 76 characters, not reserved. The one such rule. */
export const headerNameSchema = z
  .string()
  .min(1)
  .max(76)
  .regex(HEADER_NAME_PATTERN, { error: 'must be a header field name: printable ASCII without spaces or ":"' })
  .refine((n) => !(RESERVED_HEADERS as readonly string[]).includes(n.toLowerCase()), {
    error: reservedHeaderMessage,
  });

/** A header value: one line (no CR or LF: header injection), at most 998 characters. */
export const headerValueSchema = z
  .string()
  .max(998)
  .regex(/^[^\r\n]*$/, { error: 'must not contain CR or LF (header injection)' });

/** The sender identity on every message: the From address and an optional display name. */
export const fromSchema = z
  .strictObject({
    address: z
      .email({ error: 'must be an email address such as no-reply@example.com' })
      .max(254)
      .describe('Sender address (the From header and MAIL FROM).'),
    name: z
      .string()
      .max(200)
      .regex(/^[^\r\n]*$/, { error: 'must not contain CR or LF' })
      .optional()
      .describe('Display name shown to recipients, e.g. "Example Identity".'),
  })
  .describe('The sender identity on every message.');
