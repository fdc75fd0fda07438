// The dashboard API's request shapes. Only the shape is checked here (numbers,
// known keys); the ranges are the CRD's, enforced by the API server, whose
// message the dashboard passes back, so there is one authority for them.
import { z } from 'zod';
import type { DefensePolicySpecInput } from '../../api/v1alpha1/index.js';

const num = (field: string) => z.number({ error: `${field} must be a number` }).finite({ error: `${field} must be a finite number` });

/** The seed's four controls, any subset. */
export const policyControlsSchema = z
  .strictObject({
    memoryThresholdPercent: num('memoryThresholdPercent').optional(),
    attackerShareThreshold: num('attackerShareThreshold').optional(),
    windowSeconds: num('windowSeconds').optional(),
    banDurationSeconds: num('banDurationSeconds').optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { error: 'give at least one of memoryThresholdPercent, attackerShareThreshold, windowSeconds, banDurationSeconds' });

export type PolicyControls = z.infer<typeof policyControlsSchema>;

export const loginSchema = z.strictObject({ token: z.string({ error: 'token must be a string' }).min(1, { error: 'token is empty' }).max(4096) });

/** A Kubernetes object name or namespace in a URL path. */
export const objectNameSchema = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { error: 'not a Kubernetes object name' });

/** The JSON merge patch for the controls: only the given fields, at their places in the spec. */
export function controlsMergePatch(c: PolicyControls): { spec: DefensePolicySpecInput } {
  const spec: DefensePolicySpecInput = {};
  if (c.memoryThresholdPercent !== undefined) spec.trigger = { memoryThresholdPercent: c.memoryThresholdPercent };
  if (c.attackerShareThreshold !== undefined || c.windowSeconds !== undefined) {
    spec.detection = {};
    if (c.attackerShareThreshold !== undefined) spec.detection.attackerShareThreshold = c.attackerShareThreshold;
    if (c.windowSeconds !== undefined) spec.detection.windowSeconds = c.windowSeconds;
  }
  if (c.banDurationSeconds !== undefined) spec.mitigation = { banDurationSeconds: c.banDurationSeconds };
  return { spec };
}

/** First zod issue as one line. */
export function oneLine(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid request';
  return i.path.length && !i.message.startsWith(String(i.path[0])) ? `${i.path.join('.')}: ${i.message}` : i.message;
}
