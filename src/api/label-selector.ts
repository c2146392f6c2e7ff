/**
 * Kubernetes label selectors (`metav1.LabelSelector`): the schema a ClusterEmailSender's
 * `namespaceSelector` is written in, and the one function that decides whether labels match it,
 * with the apiserver's semantics (requirements ANDed; an empty selector selects everything).
 *
 * @module
 */
import * as z from 'zod';

/** At most this many labels or expressions: bounds the cost of the CRD's CEL rules. */
const MAX_TERMS = 32;
const MAX_VALUES = 64;

const QUALIFIED =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const labelKey = z.string().min(1).max(317).regex(QUALIFIED, {
  error: 'must be a label key: an optional DNS prefix and "/", then letters, digits, "-", "_", "."',
});

const labelValue = z
  .string()
  .max(63)
  .regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, {
    error:
      'must be a label value: at most 63 letters, digits, "-", "_", ".", starting and ending alphanumeric',
  });

export const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

const needsValuesMessage = 'In and NotIn need values; Exists and DoesNotExist take none';

const requirementSchema = z
  .strictObject({
    key: labelKey.describe('The label key the requirement applies to.'),
    operator: z.enum(OPERATORS).describe('In, NotIn, Exists or DoesNotExist.'),
    values: z
      .array(labelValue)
      .max(MAX_VALUES)
      .optional()
      .describe('Values for In and NotIn (at least one); empty for Exists and DoesNotExist.'),
  })
  .refine((r) => (r.operator === 'In' || r.operator === 'NotIn') === (r.values ?? []).length > 0, {
    error: needsValuesMessage,
    path: ['values'],
  })
  // The refinement is invisible to JSON Schema; the CRD repeats it in CEL.
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)",
        message: needsValuesMessage,
      },
    ],
  })
  .describe('A label requirement: a key, an operator and values.');

export const labelSelectorSchema = z
  .strictObject({
    matchLabels: z
      .record(labelKey, labelValue)
      .refine((m) => Object.keys(m).length <= MAX_TERMS, { error: `must hold at most ${MAX_TERMS} labels` })
      .meta({ maxProperties: MAX_TERMS })
      .optional()
      .describe('Labels a namespace must carry with exactly these values.'),
    matchExpressions: z
      .array(requirementSchema)
      .max(MAX_TERMS)
      .optional()
      .describe('Requirements a namespace must meet, all of them.'),
  })
  .describe('A label selector; requirements are ANDed, and an empty selector selects everything.');

export type LabelSelector = z.infer<typeof labelSelectorSchema>;

/**
 * Whether `labels` satisfy `selector`, as the apiserver decides it. `NotIn` and `DoesNotExist`
 * match objects without the key, as in Kubernetes.
 *
 * @example
 * matchesSelector({ matchLabels: { team: 'a' } }, { team: 'a', env: 'prod' }); // true
 */
export function matchesSelector(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(l, r.key);
    const values = r.values ?? [];
    const ok =
      r.operator === 'In'
        ? has && values.includes(l[r.key]!)
        : r.operator === 'NotIn'
          ? !has || !values.includes(l[r.key]!)
          : r.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}
