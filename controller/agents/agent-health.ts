// Agents that broke the wire contract, per policy. Every part of the
// controller that calls agents (the ban sync, the BlockEvent reconciler, the
// defense runner) reports here; the policy reconciler, which owns the
// policy's status, folds the problems into AgentsReachable (reason
// InvalidResponse) and emits the Event. So a bad agent degrades only its own
// policy, and only through that policy's status.
import { AgentApiError } from '../../api/agent/v1/client.js';
import type { DefensePolicy } from '../../api/v1alpha1/index.js';

export interface AgentProblem {
  agent: string;
  /** AgentApiError kind: invalid (the answer broke the contract) or forbidden (the address). */
  kind: 'invalid' | 'forbidden';
  message: string;
  at: number;
}

/** A problem is forgotten this long after it was last seen, even without a good answer since. */
const FORGET_MS = 5 * 60_000;

export function policyKey(policy: DefensePolicy): string {
  return `${policy.metadata.namespace ?? 'default'}/${policy.metadata.name ?? ''}`;
}

export class AgentHealth {
  private readonly byPolicy = new Map<string, Map<string, AgentProblem>>();

  constructor(
    /** Called when a policy gains a problem it did not have (enqueue its reconcile). */
    private readonly onNewProblem: (policyKey: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** One call's outcome: an error of kind invalid/forbidden records a problem; success clears the agent's. */
  report(policy: DefensePolicy, agent: string, err: unknown): void {
    const key = policyKey(policy);
    if (err === undefined) {
      const problems = this.byPolicy.get(key);
      if (problems?.delete(agent) && problems.size === 0) this.byPolicy.delete(key);
      return;
    }
    if (!(err instanceof AgentApiError) || (err.kind !== 'invalid' && err.kind !== 'forbidden')) return;
    let problems = this.byPolicy.get(key);
    if (!problems) this.byPolicy.set(key, (problems = new Map()));
    const isNew = !problems.has(agent);
    problems.set(agent, { agent, kind: err.kind, message: err.message, at: this.now() });
    if (isNew) this.onNewProblem(key);
  }

  problems(policy: DefensePolicy): AgentProblem[] {
    const key = policyKey(policy);
    const problems = this.byPolicy.get(key);
    if (!problems) return [];
    const now = this.now();
    for (const [agent, p] of problems) if (now - p.at > FORGET_MS) problems.delete(agent);
    if (problems.size === 0) this.byPolicy.delete(key);
    return [...problems.values()];
  }

  /** Forget a deleted policy. */
  forget(key: string): void {
    this.byPolicy.delete(key);
  }
}
