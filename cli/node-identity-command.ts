// `floodgate node-identity <node>`: give a host agent outside the cluster (the
// macOS or Linux agent beside kind or k3d) its node's own identity, so that
// it can watch the API server like the DaemonSet's agents and write its
// FloodgateNode, and no other (docs/node-identity.md). Run by an
// administrator: it creates the FloodgateNode, the node's ServiceAccount, its
// ClusterRole, and its Lease with the Role that lets it renew that Lease (in
// --namespace, which must be the controller's: the controller lists node
// Leases there), and writes a kubeconfig with a token of that ServiceAccount
// for `floodgate agent --kubeconfig`.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import YAML from 'yaml';
import { parseDuration } from './controller-command.js';
import { usageError } from './cli-error.js';

interface Flags {
  kubeconfig?: string;
  namespace: string;
  duration: string;
  out?: string;
}

export function registerNodeIdentity(program: Command): void {
  program
    .command('node-identity')
    .argument('<node>', 'the node name the host agent reports as (its FloodgateNode)')
    .description("create a node's FloodgateNode and own ServiceAccount and write a kubeconfig for a host agent that watches")
    .option('--kubeconfig <file>', 'an administrator\'s kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)')
    .option('--namespace <ns>', "where the node ServiceAccount and Lease live (the controller's, the release namespace)", 'floodgate')
    .option('--duration <duration>', 'lifetime of the token (the API server may cap it)', '720h')
    .option('--out <file>', 'write the kubeconfig here (mode 0600) instead of stdout')
    .action(async (node: string, flags: Flags) => {
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(node) || node.length > 253) throw usageError(`"${node}" is not a node name (a DNS subdomain)`);
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(flags.namespace)) throw usageError(`--namespace: "${flags.namespace}" is not a namespace name`);
      const seconds = Math.floor(parseDuration(flags.duration) / 1000);
      if (seconds < 600) throw usageError('--duration: at least 10m (the API server\'s minimum)');
      const { loadKubeConfig, KubeConfigError } = await import('../kube/kube-config.js');
      const { RestClient } = await import('../kube/rest-client.js');
      const { ensureNodeIdentity, issueToken } = await import('../controller/nodes/node-identity.js');
      let kc;
      try {
        kc = loadKubeConfig({ kubeconfig: flags.kubeconfig });
      } catch (err) {
        if (err instanceof KubeConfigError) throw usageError(err.message);
        throw err;
      }
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw usageError('the kubeconfig has no current cluster');
      const rest = new RestClient(kc);
      try {
        const identity = await ensureNodeIdentity(rest, node, flags.namespace);
        const { token, expiresAt } = await issueToken(rest, identity.serviceAccount, seconds);
        const ca = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined);
        const name = `floodgate-node-${node}`;
        const text = YAML.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name, cluster: { server: cluster.server, ...(ca ? { 'certificate-authority-data': ca } : {}), ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
          users: [{ name, user: { token } }],
          contexts: [{ name, context: { cluster: name, user: name, namespace: flags.namespace } }],
          'current-context': name,
        });
        if (flags.out) writeFileSync(flags.out, text, { mode: 0o600 });
        else process.stdout.write(text);
        console.error(`node identity ${identity.serviceAccount.namespace}/${identity.serviceAccount.name} for FloodgateNode ${node}; token expires ${expiresAt}${flags.out ? `; kubeconfig in ${flags.out}` : ''}`);
      } finally {
        rest.close();
      }
    });
}
