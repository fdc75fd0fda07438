// Which agents a DefensePolicy talks to, and with which token: its explicit
// `agents` (token from a Secret), or the pods its `agentSelector` picks
// (http://<podIP>:12345). Problems (a missing Secret, no pods) are reported,
// not thrown, so the policy's conditions can say what is wrong.
import type { V1Pod } from '@kubernetes/client-node';
import type { CoreApi } from '../kube/kube-apis.js';
import { AGENT_PORT, type DefensePolicy, type SecretKeyRef } from '../../api/v1alpha1/index.js';
import { selectorString } from './label-selector.js';

export interface AgentTarget {
  /** Stable name for status and events: the URL, or the pod name. */
  name: string;
  url: string;
  token?: string;
}

export interface ResolvedAgents {
  agents: AgentTarget[];
  problems: string[];
}

const SECRET_TTL_MS = 10_000;

export class AgentResolver {
  private secrets = new Map<string, { at: number; value: string }>();

  constructor(
    private readonly core: Pick<CoreApi, 'readNamespacedSecret' | 'listNamespacedPod'>,
    private readonly now: () => number = Date.now,
  ) {}

  private async secretValue(namespace: string, ref: SecretKeyRef): Promise<string> {
    const key = `${namespace}/${ref.name}/${ref.key}`;
    const hit = this.secrets.get(key);
    if (hit && this.now() - hit.at < SECRET_TTL_MS) return hit.value;
    let data: Record<string, string> | undefined;
    try {
      data = (await this.core.readNamespacedSecret({ name: ref.name, namespace })).data;
    } catch (err) {
      const code = (err as { code?: number }).code;
      throw new Error(code === 404 ? `secret ${namespace}/${ref.name} not found` : `cannot read secret ${namespace}/${ref.name} (HTTP ${code ?? '?'})`);
    }
    const b64 = data?.[ref.key];
    if (b64 === undefined) throw new Error(`secret ${namespace}/${ref.name} has no key "${ref.key}"`);
    const value = Buffer.from(b64, 'base64').toString('utf8').trim();
    this.secrets.set(key, { at: this.now(), value });
    return value;
  }

  async resolve(policy: DefensePolicy): Promise<ResolvedAgents> {
    const ns = policy.metadata.namespace ?? 'default';
    const spec = policy.spec;
    const agents: AgentTarget[] = [];
    const problems: string[] = [];
    for (const a of spec.agents ?? []) {
      try {
        agents.push({ name: a.url, url: a.url, token: a.tokenSecretRef ? await this.secretValue(ns, a.tokenSecretRef) : undefined });
      } catch (err) {
        problems.push(`${a.url}: ${(err as Error).message}`);
      }
    }
    if (spec.agentSelector) {
      let token: string | undefined;
      try {
        token = spec.agentTokenSecretRef ? await this.secretValue(ns, spec.agentTokenSecretRef) : undefined;
      } catch (err) {
        problems.push(`agentTokenSecretRef: ${(err as Error).message}`);
      }
      const pods: V1Pod[] = (await this.core.listNamespacedPod({ namespace: ns, labelSelector: selectorString(spec.agentSelector) })).items;
      for (const p of pods) {
        const ip = p.status?.podIP;
        if (!ip) continue;
        const host = ip.includes(':') ? `[${ip}]` : ip;
        agents.push({ name: p.metadata?.name ?? ip, url: `http://${host}:${AGENT_PORT}`, token });
      }
      if (pods.length === 0) problems.push(`agentSelector "${selectorString(spec.agentSelector)}" matches no pods in ${ns}`);
      else if (!pods.some((p) => p.status?.podIP)) problems.push('agent pods have no IP yet');
    }
    if (!spec.agents?.length && !spec.agentSelector) problems.push('the policy names no agents: set spec.agents or spec.agentSelector');
    return { agents, problems };
  }
}
