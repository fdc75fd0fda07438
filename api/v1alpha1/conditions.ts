// metav1.Condition helpers, pure (no clock, no I/O): the caller passes `now`.
// setCondition follows apimachinery's meta.SetStatusCondition: the condition
// is upserted by type, and lastTransitionTime only moves when status changes.

import { CONDITION_REASON_RE, type Condition, type ConditionStatus } from './types.js';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  /**
   * Human-readable detail. Prefer a non-empty message: the test control
   * plane (kube-apiserver 1.20.2 built with Go 1.19) rejects "" in custom
   * resources (kubernetes#99804), although real clusters accept it.
   */
  message: string;
}

/** RFC 3339 to the second, as the API server stores metav1.Time ("2024-01-02T03:04:05Z"). */
export function toRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A new conditions array with `input` set: appended if its type is new;
 * otherwise reason, message and observedGeneration are updated and
 * lastTransitionTime is kept unless the status changed. The input array is
 * not modified; the order of the other conditions is kept. Throws a
 * TypeError for a reason the API server would reject (CamelCase, see
 * CONDITION_REASON_PATTERN): a programming error, better caught here than as
 * a 422 on the status write.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  observedGeneration: number | undefined,
  now: Date = new Date(),
): Condition[] {
  if (!CONDITION_REASON_RE.test(input.reason)) {
    throw new TypeError(`condition ${input.type}: reason ${JSON.stringify(input.reason)} is not CamelCase`);
  }
  const list = conditions ?? [];
  const index = list.findIndex((c) => c.type === input.type);
  const existing = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    lastTransitionTime:
      existing && existing.status === input.status && existing.lastTransitionTime
        ? existing.lastTransitionTime
        : toRfc3339(now),
    reason: input.reason,
    message: input.message,
  };
  if (index < 0) return [...list, next];
  return list.map((c, i) => (i === index ? next : c));
}

/** A new conditions array without `type` (meta.RemoveStatusCondition). */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition exists with status "True". */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** True when the condition exists with status "False" (absent is neither true nor false). */
export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'False';
}

/**
 * True when setting `input` would change nothing but possibly
 * lastTransitionTime-preserving fields: lets a controller skip a status write.
 */
export function conditionUnchanged(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  observedGeneration: number | undefined,
): boolean {
  const c = findCondition(conditions, input.type);
  return (
    c !== undefined &&
    c.status === input.status &&
    c.reason === input.reason &&
    c.message === input.message &&
    c.observedGeneration === observedGeneration
  );
}
