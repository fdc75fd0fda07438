// API clients that reuse their connections to the API server.
//
// client-node 1.4's KubeConfig.makeApiClient authenticates every call with
// KubeConfig.applySecurityAuthentication, which builds a new https.Agent each
// time: every API call opens a new TCP connection and does a full TLS
// handshake, and each one leaves native TLS memory that is freed only when a
// GC happens to collect its agent. With 10,000 BlockEvents (three calls
// each) that was most of the controller's RSS, and a good share of the API
// server's CPU. Here the same authentication runs per call (so rotating
// tokens and exec plugins keep working), and its agent is swapped for one
// shared keep-alive agent with the same TLS options.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { createConfiguration, ServerConfiguration, type Configuration, type KubeConfig, type RequestContext, type SecurityAuthentication } from '@kubernetes/client-node';

/** The agent options that decide whether two agents can share connections. */
const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

function fingerprint(options: Record<string, unknown>): string {
  const h = crypto.createHash('sha256');
  for (const k of TLS_KEYS) {
    const v = options[k];
    h.update(`${k}=`);
    if (v === undefined) h.update('\0');
    else if (Buffer.isBuffer(v) || typeof v === 'string') h.update(v);
    else h.update(JSON.stringify(v));
    h.update('\n');
  }
  return h.digest('hex');
}

/**
 * KubeConfig's authentication, with its per-call agent replaced by a shared
 * keep-alive one (a new one when the TLS material changes). Proxy agents are
 * left alone.
 */
export function keepAliveAuthentication(kc: KubeConfig): SecurityAuthentication {
  let shared: { key: string; agent: http.Agent } | undefined;
  return {
    getName: () => 'KubeConfigKeepAlive',
    async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
      await kc.applySecurityAuthentication(ctx);
      const fresh = ctx.getAgent();
      if (!fresh || (fresh.constructor !== https.Agent && fresh.constructor !== http.Agent)) return;
      const options = (fresh as unknown as { options: Record<string, unknown> }).options;
      const key = `${fresh.constructor === https.Agent ? 'https' : 'http'}:${fingerprint(options)}`;
      if (shared?.key !== key) {
        shared?.agent.destroy();
        const Agent = fresh.constructor === https.Agent ? https.Agent : http.Agent;
        shared = { key, agent: new Agent({ ...options, keepAlive: true }) };
      }
      ctx.setAgent(shared.agent);
    },
  };
}

/** Like kc.makeApiClient(Api), with connections kept alive and reused. */
export function makeApiClient<T>(kc: KubeConfig, Api: new (config: Configuration) => T): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  return new Api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: keepAliveAuthentication(kc) },
    }),
  );
}
