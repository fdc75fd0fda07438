// `floodgate controller`: run the operator until SIGINT/SIGTERM (the Lease is released on the way out).
import type { Command } from 'commander';
import type { MemorySourceName } from '../controller/memory/memory-monitor.js';
import { portOrZero, positiveInt } from './number-options.js';
import { usageError } from './cli-error.js';

const SOURCES: MemorySourceName[] = ['metrics-api', 'kubelet', 'cgroup'];

/** "24h", "90m", "3600s" or plain seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(v.trim());
  if (!m) throw usageError(`"${v}" is not a duration such as 24h, 90m or 3600s`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit * 1000;
}

/** "a.example,b.svc" → names; each must be a DNS name (no ports, no schemes). */
export function parseHostList(v: string, flag = '--dashboard-allowed-hosts'): string[] {
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(n)) {
      throw usageError(`${flag}: "${n}" is not a DNS name`);
    }
  }
  return names;
}

export function registerController(program: Command): void {
  program
    .command('controller')
    .description('run the operator: watches DefensePolicies and pod memory, drives agents, records BlockEvents')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)')
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease', process.env.POD_NAMESPACE ?? 'default')
    .option('--retention <duration>', 'keep expired BlockEvents this long', '24h')
    .option('--memory-sources <list>', `memory sources in order (${SOURCES.join(',')})`, 'metrics-api,kubelet,cgroup')
    .option('--cgroup-root <dir>', 'cgroup filesystem root for the cgroup memory source', '/sys/fs/cgroup')
    .option('--probe-port <port>', 'port for /healthz, /readyz, /metrics', positiveInt, 8081)
    .option('--dashboard-port <port>', 'port of the web dashboard (0 disables it)', portOrZero, 8080)
    .option('--dashboard-token-file <file>', 'file holding the dashboard token; without it the dashboard API answers 401')
    .option('--dashboard-allowed-hosts <names>', 'comma-separated Host names the dashboard answers besides loopback names and IP addresses (its Service, an Ingress host)', '')
    .option('--agent-url-allowlist <list>', 'comma-separated agent URL patterns a DefensePolicy may name (http://host.docker.internal:12345, https://*.example.com:12345, http://10.20.0.0/16:*); default none: only agentSelector agents', '')
    .option('--agent-secret-namespaces <list>', 'comma-separated namespaces whose Secrets labelled floodgate.dev/agent-token=true may hold agent tokens; @policy is the policy\'s own (default: @policy and --lease-namespace)')
    .option('--agent-ca-file <file>', 'PEM CA bundle agents\' certificates must chain to; with it agentSelector agents are called over https (docs/tls.md)')
    .option('--agent-client-cert-file <file>', 'PEM client certificate the controller presents to agents that require mutual TLS')
    .option('--agent-client-key-file <file>', 'PEM private key of --agent-client-cert-file')
    .option('--agent-server-name <name>', 'the name agentSelector agents\' certificates carry (they are dialled by pod IP)')
    .option('--selector-agents-watch', 'agentSelector agents watch the API server (the chart\'s agent.sync: watch): count their FloodgateNode reports, never push to or poll their pods')
    .option('--node-identity-port <port>', 'serve the node identity broker for agents that watch (0: off)', portOrZero, 0)
    .option('--node-identity-agents <list>', 'comma-separated namespace/name of the agent ServiceAccounts whose pods may get a node identity', '')
    .option('--node-identity-cert-file <file>', 'PEM certificate the node identity broker serves HTTPS with (of the agent CA, naming the controller\'s Service; docs/node-identity.md)')
    .option('--node-identity-key-file <file>', 'PEM private key of --node-identity-cert-file')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: { kubeconfig?: string; leaseNamespace: string; retention: string; memorySources: string; cgroupRoot: string; probePort: number; dashboardPort: number; dashboardTokenFile?: string; dashboardAllowedHosts: string; agentUrlAllowlist: string; agentSecretNamespaces?: string; agentCaFile?: string; agentClientCertFile?: string; agentClientKeyFile?: string; agentServerName?: string; selectorAgentsWatch?: boolean; nodeIdentityPort: number; nodeIdentityAgents: string; nodeIdentityCertFile?: string; nodeIdentityKeyFile?: string; logLevel: string }) => {
      const sources = flags.memorySources.split(',').map((s) => s.trim()).filter(Boolean) as MemorySourceName[];
      for (const s of sources) if (!SOURCES.includes(s)) throw usageError(`--memory-sources: unknown source "${s}" (use ${SOURCES.join(', ')})`);
      const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
      const agentUrlAllowlist = list(flags.agentUrlAllowlist);
      const { AgentUrlAllowlist, AgentUrlPatternError } = await import('../controller/agents/agent-url-allowlist.js');
      try {
        new AgentUrlAllowlist(agentUrlAllowlist);
      } catch (err) {
        if (err instanceof AgentUrlPatternError) throw usageError(`--agent-url-allowlist: ${err.message}`);
        throw err;
      }
      const agentSecretNamespaces = flags.agentSecretNamespaces === undefined ? undefined : list(flags.agentSecretNamespaces);
      if ((flags.agentClientCertFile === undefined) !== (flags.agentClientKeyFile === undefined)) throw usageError('--agent-client-cert-file and --agent-client-key-file go together');
      if ((flags.agentClientCertFile || flags.agentServerName) && !flags.agentCaFile) throw usageError('--agent-client-cert-file and --agent-server-name need --agent-ca-file');
      if (flags.agentServerName !== undefined) parseHostList(flags.agentServerName, '--agent-server-name');
      if (flags.agentCaFile) {
        const { loadTlsFiles, TlsFileError } = await import('../lib/tls-files.js');
        try {
          loadTlsFiles({ caFile: flags.agentCaFile, certFile: flags.agentClientCertFile, keyFile: flags.agentClientKeyFile });
        } catch (err) {
          if (err instanceof TlsFileError) throw usageError(err.message);
          throw err;
        }
      }
      for (const n of agentSecretNamespaces ?? []) {
        if (n !== '@policy' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n)) throw usageError(`--agent-secret-namespaces: "${n}" is not a namespace name (or @policy)`);
      }
      const identityAgents = list(flags.nodeIdentityAgents);
      for (const a of identityAgents) {
        if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(a)) throw usageError(`--node-identity-agents: "${a}" is not namespace/name of a ServiceAccount`);
      }
      if (flags.nodeIdentityPort > 0 && identityAgents.length === 0) throw usageError('--node-identity-port needs --node-identity-agents (the agent DaemonSet\'s ServiceAccount)');
      if ((flags.nodeIdentityCertFile === undefined) !== (flags.nodeIdentityKeyFile === undefined)) throw usageError('--node-identity-cert-file and --node-identity-key-file go together');
      const identityTls = flags.nodeIdentityCertFile && flags.nodeIdentityKeyFile ? { certFile: flags.nodeIdentityCertFile, keyFile: flags.nodeIdentityKeyFile } : undefined;
      if (identityTls) {
        if (!(flags.nodeIdentityPort > 0)) throw usageError('--node-identity-cert-file needs --node-identity-port');
        const { loadTlsFiles, TlsFileError } = await import('../lib/tls-files.js');
        try {
          loadTlsFiles(identityTls);
        } catch (err) {
          if (err instanceof TlsFileError) throw usageError(`--node-identity-cert-file: ${err.message}`);
          throw err;
        }
      }
      // Loaded here, not at the top: the other commands need none of the operator (nor client-node).
      const { default: pino } = await import('pino');
      const { startController } = await import('../controller/controller.js');
      const controller = await startController({
        kubeconfig: flags.kubeconfig,
        leaseNamespace: flags.leaseNamespace,
        retentionMs: parseDuration(flags.retention),
        memorySources: sources,
        cgroupRoot: flags.cgroupRoot,
        probePort: flags.probePort,
        agentUrlAllowlist,
        ...(agentSecretNamespaces ? { agentSecretNamespaces } : {}),
        ...(flags.agentCaFile
          ? { agentTls: { caFile: flags.agentCaFile, certFile: flags.agentClientCertFile, keyFile: flags.agentClientKeyFile, serverName: flags.agentServerName } }
          : {}),
        dashboard:
          flags.dashboardPort === 0
            ? undefined
            : { port: flags.dashboardPort, tokenFile: flags.dashboardTokenFile, allowedHosts: parseHostList(flags.dashboardAllowedHosts) },
        selectorAgentsWatch: Boolean(flags.selectorAgentsWatch),
        ...(flags.nodeIdentityPort > 0 ? { nodeIdentity: { port: flags.nodeIdentityPort, agentServiceAccounts: identityAgents, ...(identityTls ? { tls: identityTls } : {}) } } : {}),
        logger: pino({ level: flags.logLevel, base: { component: 'controller' } }),
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await controller.stop();
    });
}
