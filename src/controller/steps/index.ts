/**
 * The reconcile steps, in the order they run. The first failure stops the chain.
 *
 * @module
 */
import type { Step } from '../types.ts';
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
export const STEPS: ReadonlyArray<readonly [name: string, step: Step]> = [
  ['read-secret', readSecret],
  ['read-dkim-key', readDkimKey],
  ['parse-uri', parseUri],
  ['deliverability', deliverability],
  ['probe', probe],
  ['publish-config', publishConfig],
];
