/**
 * Step 4: render the config a successful probe would publish (its revision goes to status as the
 * desired revision, so a failed change is visible before it is published).
 *
 * @module
 */

import { fromDomain } from '../../api/address.ts';
import { API_VERSION } from '../../api/emailsender.ts';
import { configRevision, RENDERED_CONFIG_KIND, type RenderedConfig } from '../../api/rendered-config.ts';
import type { SmtpUri } from '../../api/secret-values.ts';
import type { ReconcileState, Step } from '../types.ts';

/** The config a successful probe of `state` publishes. Pure. */
export function renderConfig(state: ReconcileState & { parsed: SmtpUri }): RenderedConfig {
  const { spec, sender } = state;
  const body: Omit<RenderedConfig, 'revision'> = {
    apiVersion: API_VERSION,
    kind: RENDERED_CONFIG_KIND,
    // A ClusterEmailSender has no namespace: its copies all carry the same config.
    sender: { namespace: sender.metadata.namespace ?? '', name: sender.metadata.name },
    smtp: {
      // The text the sidecar parses at its own boundary, through the same schema.
      uri: state.parsed.text,
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

/** Renders `state.desired` from the parsed URI and the values read before it. */
export const renderConfigStep: Step = async (state) => {
  const parsed = state.parsed;
  if (!parsed) throw new Error('render-config step needs a parsed URI');
  state.desired = renderConfig({ ...state, parsed });
};
