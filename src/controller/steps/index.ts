/**
 * The reconcile steps, in the order they run. The first failure stops the chain.
 *
 * @module
 */
import type { Step } from '../types.ts';
import { parseUri } from './parse-uri.ts';
import { probe } from './probe.ts';
import { publishConfig } from './publish-config.ts';
import { readSecret } from './read-secret.ts';

/** read-secret → parse-uri → probe → publish-config. */
export const STEPS: ReadonlyArray<readonly [name: string, step: Step]> = [
  ['read-secret', readSecret],
  ['parse-uri', parseUri],
  ['probe', probe],
  ['publish-config', publishConfig],
];
