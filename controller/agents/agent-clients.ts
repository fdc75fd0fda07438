// How the controller gets a client for one agent. Production uses the wire
// contract's AgentApiClient; the reconcile unit tests inject fakes with the
// same calls, so the reconcilers never construct HTTP clients themselves.
import { AgentApiClient } from '../../api/agent/v1/client.js';
import type { AgentTarget } from './agent-resolver.js';

/** The calls of the agent API the controller makes. */
export type AgentCalls = Pick<
  AgentApiClient,
  'readyz' | 'analyze' | 'listBlocksSince' | 'block' | 'unblock' | 'traffic' | 'talkers' | 'attacks' | 'signatures' | 'addSignature' | 'removeSignature' | 'setSignaturePolicy'
>;

export type AgentClientFactory = (agent: AgentTarget, timeoutMs: number) => AgentCalls;

export const httpAgentClients: AgentClientFactory = (agent, timeoutMs) => new AgentApiClient({ url: agent.url, token: agent.token, timeoutMs });
