// `floodgate agent`: run the host agent in the foreground until SIGINT/SIGTERM.
import type { Command } from 'commander';
import type { AgentConfigInput } from '../agent/config/agent-config.js';
import { usageError } from './cli-error.js';

interface AgentFlags {
  interface?: string;
  backend?: AgentConfigInput['backend'];
  listen?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  tlsClientName?: string[];
  config?: string;
  stateDir?: string;
  mode?: AgentConfigInput['mode'];
  autoDefense?: boolean;
  protect?: string[];
  allowlist?: string[];
  kubeconfig?: string;
  nodeName?: string;
}

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run the host agent: continuous capture, detection, firewall bans, REST API on :12345')
    .option('-i, --interface <if>', 'capture interface (default: the interface of the default route)')
    .option('--backend <name>', 'firewall backend: auto, nft, pf, iptables or dry-run')
    .option('--listen <host:port>', 'API address (default 127.0.0.1:12345)')
    .option('--token-file <path>', 'file holding the API bearer token (else $FLOODGATE_TOKEN)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); re-read when it changes (docs/tls.md)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--tls-client-ca <file>', 'mutual TLS: only clients with a certificate of this PEM CA bundle (e.g. the controller)')
    .option('--tls-client-name <cn>', 'with --tls-client-ca: only client certificates with this subject CN (repeatable, comma-separated)', list)
    .option('--config <file.yaml>', 'YAML config; flags override it')
    .option('--state-dir <dir>', 'where the ban store lives (default /var/lib/floodgate)')
    .option('--mode <mode>', 'continuous (default) or window (the seed\'s capture-then-analyze)')
    .option('--auto-defense', 'ban attackers automatically (else only on request)')
    .option('--protect <cidrs>', 'extra protected CIDRs besides the interface addresses', list)
    .option('--allowlist <cidrs>', 'CIDRs never to ban (cluster pod/service CIDRs)', list)
    .option('--kubeconfig <file>', 'watch the API server with this kubeconfig (a host agent\'s node identity: floodgate node-identity) instead of waiting for pushes')
    .option('--node-name <name>', 'the FloodgateNode this agent reports as (default $NODE_NAME, else the host name)')
    .action(async (flags: AgentFlags) => {
      // Loaded here, not at the top: other commands (the controller) need none of the agent.
      const { loadAgentConfig, readToken, ConfigError, kubeSectionSchema, brokerCaFile, plainHttpBrokerIssue } = await import('../agent/config/agent-config.js');
      const { loadTlsFiles, TlsFileError } = await import('../lib/tls-files.js');
      const { startAgent } = await import('../agent/agent.js');
      let cfg;
      let token;
      try {
        cfg = loadAgentConfig(flags.config, {
          interface: flags.interface,
          backend: flags.backend,
          listen: flags.listen,
          tokenFile: flags.tokenFile,
          stateDir: flags.stateDir,
          mode: flags.mode,
          protect: flags.protect,
          allowlist: flags.allowlist,
          ...(flags.tlsCert || flags.tlsKey || flags.tlsClientCa || flags.tlsClientName
            ? { tls: { certFile: flags.tlsCert!, keyFile: flags.tlsKey!, clientCaFile: flags.tlsClientCa, clientNames: flags.tlsClientName } }
            : {}),
        });
        if (flags.autoDefense) cfg.autoDefense.enabled = true;
        if (flags.kubeconfig || flags.nodeName) {
          if (!flags.kubeconfig && !cfg.kube) throw new ConfigError('--node-name needs --kubeconfig (or a kube: section in the config)');
          cfg.kube = kubeSectionSchema.parse({ ...(cfg.kube ?? {}), ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}), ...(flags.nodeName ? { nodeName: flags.nodeName } : {}) });
        }
        token = readToken(cfg.tokenFile);
        if (cfg.tls) loadTlsFiles({ certFile: cfg.tls.certFile, keyFile: cfg.tls.keyFile, caFile: cfg.tls.clientCaFile });
        // The node identity broker's CA, and no pod token for an http:// broker while there is one.
        const plain = plainHttpBrokerIssue(cfg);
        if (plain) throw new ConfigError(`kube.identity.url ${plain}`);
        const brokerCa = brokerCaFile(cfg);
        if (brokerCa && cfg.kube?.identity && !cfg.kube.kubeconfig && /^https:/i.test(cfg.kube.identity.url)) loadTlsFiles({ caFile: brokerCa });
      } catch (err) {
        if (err instanceof ConfigError || err instanceof TlsFileError) throw usageError(err.message);
        throw err;
      }
      const agent = await startAgent(cfg, { token });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await agent.stop();
    });
}
