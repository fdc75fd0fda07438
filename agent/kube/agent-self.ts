// Who this agent is, as DefensePolicies and BlockEvents name agents: the rule
// the controller's agent resolver applies from the other side
// (controller/agents/agent-resolver.ts), so both pick the same agents:
//   - agentSelector: the agent pods of the namespace of the policy's
//     agentTokenSecretRef (the policy's own when it names none) whose labels
//     match; a host agent counts with the labels and namespace its config gives;
//   - spec.agents[].url: a host agent whose config gives that URL;
//   - a BlockEvent's spec.agent binds it to one agent: "node/<node>", the pod
//     name, or the URL.
import { labelsMatch } from '../../lib/label-match.js';
import type { DefensePolicy } from '../../api/v1alpha1/index.js';

export interface AgentSelf {
  /** The node (the FloodgateNode's name). */
  node: string;
  /** The agent pod (in-cluster), namespace/name. */
  pod?: { namespace: string; name: string };
  /** Labels a policy's agentSelector is matched against (the pod's, or the config's for a host agent). */
  labels: Readonly<Record<string, string>>;
  /** The namespace those labels count in (the pod's, or the config's). */
  namespace?: string;
  /** The agent's URL as spec.agents names it (a host agent). */
  url?: string;
}

/** "namespace/name" of a policy. */
export function policyKey(p: { metadata: { namespace?: string; name?: string } }): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}`;
}

function sameUrl(a: string, b: string): boolean {
  const norm = (u: string) => u.replace(/\/+$/, '').toLowerCase();
  return norm(a) === norm(b);
}

/** Does this policy pick this agent? */
export function policySelects(policy: DefensePolicy, self: AgentSelf): boolean {
  if (policy.metadata.deletionTimestamp) return false;
  const spec = policy.spec;
  if (self.url && (spec.agents ?? []).some((a) => sameUrl(a.url, self.url as string))) return true;
  if (!spec.agentSelector || self.namespace === undefined) return false;
  const podNamespace = spec.agentTokenSecretRef?.namespace ?? policy.metadata.namespace ?? 'default';
  return podNamespace === self.namespace && labelsMatch(spec.agentSelector, self.labels);
}

/** Does a BlockEvent's spec.agent name this agent? */
export function namesSelf(agent: string, self: AgentSelf): boolean {
  if (agent === `node/${self.node}`) return true;
  if (self.pod && agent === self.pod.name) return true;
  return self.url !== undefined && sameUrl(agent, self.url);
}
