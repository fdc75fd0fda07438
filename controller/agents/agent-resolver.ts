// Which agents a DefensePolicy talks to, and with which token: its explicit
// `agents` (token from a Secret), or the pods its `agentSelector` picks
// (https://<podIP>:12345 when the controller has agent TLS, else http://).
// Problems (a missing Secret, no pods) are reported,
// not thrown, so the policy's conditions can say what is wrong.
//
// What a policy may reach (docs/trust-model.md):
//   - an explicit URL only when the controller's URL allowlist has it (and the
//     wire contract's rules allow it: http(s)://host[:port], no link-local...);
//     a refused URL is never called and its Secret is never read;
//   - agentSelector pods of the namespace of its agentTokenSecretRef (the
//     policy's own when the ref names none): a token only ever goes to pods
//     of its own Secret's namespace, or to allowlisted URLs;
//   - a token only from a Secret labelled floodgate.dev/agent-token: "true",
//     in a namespace the controller allows (the policy's own, "@policy", and
//     the ones --agent-secret-namespaces names). A refused Secret's value is
//     never used.
//
// TLS (docs/tls.md): every https:// agent is verified against the
// controller's agent CA and gets its client certificate; a selector agent,
// dialled by pod IP, must present a certificate for the agents' fixed name
// (--agent-server-name), never merely for its IP.
import type { V1Pod } from '@kubernetes/client-node';
import { agentBaseUrl, forbiddenAgentAddress, type AgentTlsOptions } from '../../api/agent/v1/client.js';
import type { CoreApi } from '../../kube/kube-apis.js';
import { AGENT_PORT, type DefensePolicy, type SecretKeyRef } from '../../api/v1alpha1/index.js';
import { AgentUrlAllowlist } from './agent-url-allowlist.js';
import { selectorString } from './label-selector.js';

/** The label a Secret must carry, with exactly this value, for its value to be used as an agent token. */
export const AGENT_TOKEN_LABEL = 'floodgate.dev/agent-token';
export const AGENT_TOKEN_LABEL_VALUE = 'true';
/** In --agent-secret-namespaces: the policy's own namespace. */
export const POLICY_NAMESPACE = '@policy';

export interface AgentTarget {
  /** Stable name for status and events: the URL, or the pod name. */
  name: string;
  url: string;
  token?: string;
  /** For https:// agents: CA, client certificate, expected name. Never leaves the controller. */
  tls?: AgentTlsOptions;
  /** An agentSelector pod's node and name: an agent that watches the API server reports for that node. */
  node?: string;
  pod?: { namespace: string; name: string };
}

/** Something the rules refused (as opposed to a Secret or pod that is not there yet). */
export interface AgentRefusal {
  reason: 'SecretRefused' | 'AgentUrlNotAllowed';
  message: string;
}

export interface ResolvedAgents {
  agents: AgentTarget[];
  problems: string[];
  /** Refusals, also listed in problems: shown in the policy's conditions and Events. */
  refusals?: AgentRefusal[];
}

export interface AgentResolverOptions {
  /** Explicit agent URLs a policy may name (AgentUrlAllowlist patterns). Empty: none. */
  urlAllowlist: readonly string[];
  /** Namespaces whose labelled Secrets may hold agent tokens; "@policy" is the policy's own. */
  secretNamespaces: readonly string[];
  /** TLS to agents; without it selector agents are called over plain http://. */
  tls?: AgentTlsSource;
}

/** The controller's side of agent TLS. */
export interface AgentTlsSource {
  /** The agent CA and the controller's client certificate, as they are now (files re-read on rotation). */
  material(): Pick<AgentTlsOptions, 'ca' | 'cert' | 'key'>;
  /** The name every selector agent's certificate must carry (they are dialled by pod IP). Without it: the pod IP. */
  selectorServerName?: string;
}

/** A refusal of the rules, thrown by secretValue and turned into an AgentRefusal. */
class Refused extends Error {
  constructor(
    readonly reason: AgentRefusal['reason'],
    message: string,
  ) {
    super(message);
  }
}

const SECRET_TTL_MS = 10_000;

export class AgentResolver {
  private secrets = new Map<string, { at: number; value: string }>();
  private readonly allowlist: AgentUrlAllowlist;

  constructor(
    private readonly core: Pick<CoreApi, 'readNamespacedSecret' | 'listNamespacedPod'>,
    private readonly options: AgentResolverOptions = { urlAllowlist: [], secretNamespaces: [POLICY_NAMESPACE] },
    private readonly now: () => number = Date.now,
  ) {
    this.allowlist = new AgentUrlAllowlist(options.urlAllowlist);
  }

  /** Where the Secret of `ref` lives for a policy in `policyNamespace`, or why it may not be read. */
  private secretNamespace(policyNamespace: string, ref: SecretKeyRef): string {
    const namespace = ref.namespace ?? policyNamespace;
    const allowed = this.options.secretNamespaces.some((n) => (n === POLICY_NAMESPACE ? namespace === policyNamespace : n === namespace));
    if (!allowed) {
      throw new Refused('SecretRefused', `secret ${namespace}/${ref.name} refused: agent tokens are read only from ${this.options.secretNamespaces.map((n) => (n === POLICY_NAMESPACE ? "the policy's own namespace" : n)).join(', ') || 'no namespace'} (--agent-secret-namespaces)`);
    }
    return namespace;
  }

  private async secretValue(policyNamespace: string, ref: SecretKeyRef): Promise<string> {
    const namespace = this.secretNamespace(policyNamespace, ref);
    const key = `${namespace}/${ref.name}/${ref.key}`;
    const hit = this.secrets.get(key);
    if (hit && this.now() - hit.at < SECRET_TTL_MS) return hit.value;
    let secret: { data?: Record<string, string>; metadata?: { labels?: Record<string, string> } };
    try {
      secret = await this.core.readNamespacedSecret({ name: ref.name, namespace });
    } catch (err) {
      const code = (err as { code?: number }).code;
      throw new Error(code === 404 ? `secret ${namespace}/${ref.name} not found` : `cannot read secret ${namespace}/${ref.name} (HTTP ${code ?? '?'})`);
    }
    // Only a Secret someone marked for this use: otherwise naming any Secret would send its value to an agent.
    if (secret.metadata?.labels?.[AGENT_TOKEN_LABEL] !== AGENT_TOKEN_LABEL_VALUE) {
      throw new Refused('SecretRefused', `secret ${namespace}/${ref.name} refused: it is not labelled ${AGENT_TOKEN_LABEL}: "${AGENT_TOKEN_LABEL_VALUE}"; its value is not used`);
    }
    const b64 = secret.data?.[ref.key];
    if (b64 === undefined) throw new Error(`secret ${namespace}/${ref.name} has no key "${ref.key}"`);
    const value = Buffer.from(b64, 'base64').toString('utf8').trim();
    this.secrets.set(key, { at: this.now(), value });
    return value;
  }

  /**
   * Why the controller will not call `url` (undefined: it will). The same rule
   * for a policy's agents and a BlockEvent's spec.agent: the wire contract's
   * URL and address rules, then the URL allowlist.
   */
  checkAgentUrl(url: string, _namespace: string): string | undefined {
    let base: URL;
    try {
      base = agentBaseUrl(url);
    } catch (err) {
      return (err as Error).message;
    }
    const forbidden = forbiddenAgentAddress(base.hostname);
    if (forbidden) return `${base.host} is ${forbidden}: not an agent`;
    if (!this.allowlist.allows(base)) {
      return `${base.origin} is not an allowed agent URL (the controller's --agent-url-allowlist: ${this.allowlist.describe() || 'empty, so only agentSelector agents'})`;
    }
    return undefined;
  }

  /** An explicit URL as a target (a BlockEvent's spec.agent): with the controller's agent TLS when it is https://. No token. */
  explicitTarget(url: string): AgentTarget {
    return { name: url, url, ...(this.options.tls && url.startsWith('https:') ? { tls: this.options.tls.material() } : {}) };
  }

  async resolve(policy: DefensePolicy): Promise<ResolvedAgents> {
    const ns = policy.metadata.namespace ?? 'default';
    const spec = policy.spec;
    const agents: AgentTarget[] = [];
    const problems: string[] = [];
    const refusals: AgentRefusal[] = [];
    const problem = (what: string, err: unknown) => {
      const message = `${what}: ${(err as Error).message}`;
      problems.push(message);
      if (err instanceof Refused) refusals.push({ reason: err.reason, message });
    };
    for (const a of spec.agents ?? []) {
      // Checked before the Secret is even read: a token never goes to a URL the rules refuse.
      const refused = this.checkAgentUrl(a.url, ns);
      if (refused) {
        problem(a.url, new Refused('AgentUrlNotAllowed', refused));
        continue;
      }
      try {
        agents.push({ ...this.explicitTarget(a.url), token: a.tokenSecretRef ? await this.secretValue(ns, a.tokenSecretRef) : undefined });
      } catch (err) {
        problem(a.url, err); // no token, no call: the agent would only answer 401
      }
    }
    if (spec.agentSelector) {
      // The pods of the token's own namespace: a token never goes to pods of another namespace.
      const podNamespace = spec.agentTokenSecretRef?.namespace ?? ns;
      let token: string | undefined;
      let usable = true;
      try {
        token = spec.agentTokenSecretRef ? await this.secretValue(ns, spec.agentTokenSecretRef) : undefined;
      } catch (err) {
        problem('agentTokenSecretRef', err);
        usable = false;
      }
      if (usable) {
        const pods: V1Pod[] = (await this.core.listNamespacedPod({ namespace: podNamespace, labelSelector: selectorString(spec.agentSelector) })).items;
        const tlsSource = this.options.tls;
        const tls = tlsSource ? { tls: { ...tlsSource.material(), ...(tlsSource.selectorServerName ? { servername: tlsSource.selectorServerName } : {}) } } : {};
        for (const p of pods) {
          const ip = p.status?.podIP;
          if (!ip) continue;
          const host = ip.includes(':') ? `[${ip}]` : ip;
          agents.push({
            name: p.metadata?.name ?? ip,
            url: `${tlsSource ? 'https' : 'http'}://${host}:${AGENT_PORT}`,
            token,
            ...tls,
            ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
            ...(p.metadata?.name ? { pod: { namespace: podNamespace, name: p.metadata.name } } : {}),
          });
        }
        if (pods.length === 0) problems.push(`agentSelector "${selectorString(spec.agentSelector)}" matches no pods in ${podNamespace}`);
        else if (!pods.some((p) => p.status?.podIP)) problems.push('agent pods have no IP yet');
      }
    }
    if (!spec.agents?.length && !spec.agentSelector) problems.push('the policy names no agents: set spec.agents or spec.agentSelector');
    return { agents, problems, ...(refusals.length ? { refusals } : {}) };
  }
}
