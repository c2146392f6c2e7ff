/**
 * Step 2: parse the URI and render the config it would publish (its revision goes to status as the
 * desired revision, so a failed change is visible before it is published).
 *
 * @module
 */

import { fromDomain } from '../../api/address.ts';
import { API_VERSION } from '../../api/emailsender.ts';
import { configRevision, RENDERED_CONFIG_KIND, type RenderedConfig } from '../../api/rendered-config.ts';
import { smtpUriSchema, uriFieldOf } from '../../api/secret-values.ts';
import { StalledError } from '../errors.ts';
import type { ReconcileState, Step } from '../types.ts';

/** The config a successful probe of `state` publishes. Pure. */
export function renderConfig(state: ReconcileState & { uri: string }): RenderedConfig {
  const { spec, sender } = state;
  const body: Omit<RenderedConfig, 'revision'> = {
    apiVersion: API_VERSION,
    kind: RENDERED_CONFIG_KIND,
    // A ClusterEmailSender has no namespace: its copies all carry the same config.
    sender: { namespace: sender.metadata.namespace ?? '', name: sender.metadata.name },
    smtp: {
      uri: state.uri.trim(),
      ...(spec.smtp.localName ? { localName: spec.smtp.localName } : {}),
      ...(state.ca ? { ca: state.ca } : {}),
    },
    from: spec.from,
    headers: spec.headers ?? {},
    ...(spec.dkim && state.dkimKey
      ? {
          dkim: {
            selector: spec.dkim.selector,
            domain: spec.dkim.domain ?? fromDomain(spec.from.address),
            privateKey: state.dkimKey,
          },
        }
      : {}),
    delivery: {
      maxAttempts: spec.delivery.maxAttempts,
      maxBackoffMs: spec.delivery.maxBackoffMs,
      ratePerSecond: spec.delivery.ratePerSecond,
    },
  };
  // Keyed by the uids of the Secrets it was read from, which readers of the status cannot see, so
  // the public revision cannot be used to test password guesses offline.
  return { ...body, revision: configRevision(body, (state.secretUids ?? []).join('/')) };
}

/** Parses `state.uri` into `state.parsed` (once: the rendered config carries its text) and renders `state.desired`. */
export const parseUri: Step = async (state) => {
  const r = smtpUriSchema.safeParse(state.uri ?? '');
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const ref = state.spec.smtp.uriSecretRef;
    // The schema's messages never quote the URI; the reconciler redacts the Secret's values anyway.
    throw new StalledError(
      'InvalidURI',
      `the URI in Secret "${ref.name}" key "${ref.key}" is invalid (${uriFieldOf(issue) ?? 'uri'}): ${issue.message}`,
    );
  }
  state.parsed = r.data;
  state.desired = renderConfig({ ...state, uri: r.data.text });
};
