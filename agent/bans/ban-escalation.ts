// How long a repeat offender is banned, like fail2ban's bantime.increment:
// the requested duration × factor^(offences − 1), capped. Escalation happens
// in one place per ban: a ban the agent decides itself (auto-defense, source
// "auto") is escalated here; a duration asked for through the API (the
// controller, which escalates by its DefensePolicy, or an operator) is kept
// as asked, so no ban is escalated twice (docs/lifecycle.md).
import type { BanSource } from '../../api/agent/v1/types.js';

export interface EscalationRule {
  /** Growth per earlier offence within the find time. */
  factor: number;
  /** Ceiling of an escalated ban. */
  maxDurationSeconds: number;
}

export function escalatedSeconds(baseSeconds: number, offenceCount: number, rule: EscalationRule): number {
  return Math.min(baseSeconds * rule.factor ** (offenceCount - 1), rule.maxDurationSeconds);
}

/** The duration of a ban: escalated when the agent decided it itself, as asked otherwise. */
export function banSeconds(request: { durationSeconds: number; source: BanSource }, offenceCount: number, rule: EscalationRule): number {
  return request.source === 'auto' ? escalatedSeconds(request.durationSeconds, offenceCount, rule) : request.durationSeconds;
}
