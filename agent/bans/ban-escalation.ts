// How long a repeat offender is banned, like fail2ban's bantime.increment:
// the requested duration × factor^(offences − 1), capped. Kept apart from
// the decisions that use it, so that escalation can move to one place
// (controller or agent) without touching the rest.

export interface EscalationRule {
  /** Growth per earlier offence within the find time. */
  factor: number;
  /** Ceiling of an escalated ban. */
  maxDurationSeconds: number;
}

export function escalatedSeconds(baseSeconds: number, offenceCount: number, rule: EscalationRule): number {
  return Math.min(baseSeconds * rule.factor ** (offenceCount - 1), rule.maxDurationSeconds);
}
