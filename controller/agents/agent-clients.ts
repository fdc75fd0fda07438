// How the controller gets a client for one agent. Production uses the wire
// contract's AgentApiClient; the reconcile unit tests inject fakes with the
// same calls, so the reconcilers never construct HTTP clients themselves.
import { AgentApiClient } from '../../api/agent/v1/client.js';
import { backoffDelay } from '../../lib/backoff.js';
import type { AgentTarget } from './agent-resolver.js';

/** The calls of the agent API the controller makes. */
export type AgentCalls = Pick<
  AgentApiClient,
  'readyz' | 'analyze' | 'aggregate' | 'listBlocksSince' | 'block' | 'unblock' | 'traffic' | 'talkers' | 'attacks' | 'signatures' | 'addSignature' | 'removeSignature' | 'setSignaturePolicy'
>;

export type AgentClientFactory = (agent: AgentTarget, timeoutMs: number) => AgentCalls;

export const httpAgentClients: AgentClientFactory = (agent, timeoutMs) => new AgentApiClient({ url: agent.url, token: agent.token, timeoutMs, tls: agent.tls });

/**
 * How long to leave an agent alone after `failures` failed reads in a row (1: the first failure):
 * 0.5 s, 1 s, 2 s, ... up to 30 s, jittered, so that a dead or broken agent is not polled 3 times a second.
 */
export function agentRetryDelayMs(failures: number): number {
  return backoffDelay(Math.max(0, failures - 1), { initialMs: 500, maxMs: 30_000 });
}
