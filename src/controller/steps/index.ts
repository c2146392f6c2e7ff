/**
 * The reconcile steps, in the order they run, each with the hooks it asks for. The first failure
 * stops the chain.
 *
 * @module
 */
import type { ReconcileStep } from '../types.ts';
import { deliverability } from './deliverability.ts';
import { parseUri } from './parse-uri.ts';
import { probe } from './probe.ts';
import { publishConfig } from './publish-config.ts';
import { readDkimKey } from './read-dkim-key.ts';
import { readSecret } from './read-secret.ts';

/**
 * read-secret → read-dkim-key → parse-uri → deliverability (started, runs beside the probe) →
 * probe → publish-config.
 */
export const STEPS: readonly ReconcileStep[] = [
  { name: 'read-secret', run: readSecret },
  { name: 'read-dkim-key', run: readDkimKey },
  { name: 'parse-uri', run: parseUri },
  { name: 'deliverability', run: deliverability },
  // The only step that talks to a remote server for seconds: a new generation shows progress.
  { name: 'probe', run: probe, reportsProgress: true },
  { name: 'publish-config', run: publishConfig },
];
