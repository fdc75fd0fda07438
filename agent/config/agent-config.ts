// The agent's configuration: one strict schema for the YAML file and the
// CLI flags (flags override the file). Unknown keys and bad values are a
// one-line error before anything starts.
import fs from 'node:fs';
import net from 'node:net';
import YAML from 'yaml';
import { z } from 'zod';
import { ipOrCidr, oneLineZodError } from '../../native/lib/capture-options.js';
import { detectionThresholdOverridesSchema } from '../../detection/defaults.js';
import { unmapIpv4Text } from '../../lib/cidr.js';

/** An IP or CIDR, canonical, IPv4-mapped forms as IPv4 (::ffff:10.0.0.0/104 is 10.0.0.0/8: IPv4 packets are matched as IPv4). */
const unmappedIpOrCidr = ipOrCidr.transform(unmapIpv4Text);

/** "HOST:PORT" or "[v6]:PORT". */
export const listenAddress = z.string().transform((s, ctx) => {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:]+):(\d{1,5})$/.exec(s);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!host || !(host === 'localhost' || net.isIP(host)) || !(port >= 0 && port <= 65535)) {
    ctx.addIssue({ code: 'custom', message: 'must be HOST:PORT with an IP address, e.g. 127.0.0.1:12345 or [::1]:12345' });
    return z.NEVER;
  }
  return { host, port };
});

/**
 * Watch the API server for what to enforce (docs/fanout.md) instead of
 * waiting for the controller's pushes. In a pod: its ServiceAccount reads,
 * and the controller's node identity broker gives the node's own identity
 * for the report. A host agent: a kubeconfig with its node's identity
 * (floodgate node-identity writes one). Without this section the agent
 * serves the push API only, as before.
 */
export const kubeSectionSchema = z
  .strictObject({
    /** A host agent's kubeconfig (its node identity); absent: in-cluster (the pod's ServiceAccount). */
    kubeconfig: z.string().min(1).optional(),
    /** The FloodgateNode's name; default $NODE_NAME (the downward API), else the host name. */
    nodeName: z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'is not a node name (a DNS subdomain)').optional(),
    /** A file of the pod's labels (downward API), matched against policies' agentSelector. */
    labelsFile: z.string().min(1).optional(),
    /** Labels policies select a host agent by (instead of a pod's). */
    labels: z.record(z.string().max(317), z.string().max(63)).default({}),
    /** The namespace those labels count in; default $POD_NAMESPACE. */
    namespace: z.string().min(1).max(63).optional(),
    /** This agent's URL as policies list it in spec.agents (a host agent beside kind or k3d). */
    url: z.string().url().max(2048).optional(),
    /**
     * In-cluster: the controller's node identity broker and the pod-bound token to show it.
     * An https:// broker is verified against caFile (default: tls.clientCaFile, the agent CA);
     * with a CA configured, an http:// broker is refused unless allowPlainHttp (docs/node-identity.md).
     */
    identity: z
      .strictObject({
        url: z
          .string()
          .url()
          .max(2048)
          .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL'),
        tokenFile: z.string().min(1).default('/var/run/secrets/floodgate.dev/node-identity/token'),
        /** PEM CA bundle the broker's certificate must chain to; default tls.clientCaFile. */
        caFile: z.string().min(1).optional(),
        /** Send the pod token to an http:// broker although a CA is configured (it then crosses the network in clear). */
        allowPlainHttp: z.boolean().default(false),
      })
      .optional(),
    /** Renew the node Lease this often (the controller calls a node silent after 3); the report is written at least every 5 (node-report.ts). */
    heartbeatSeconds: z.number().int().min(1).max(3600).default(60),
    /**
     * The reports that count a new ban: the nodes of one policy write about this many a second
     * together (each at its slot in every nodes / this seconds, at most a heartbeat). docs/fanout.md.
     */
    reportsPerSecond: z.number().min(1).max(10_000).default(20),
    /** Full relist of BlockEvents and DefensePolicies this often. */
    relistSeconds: z.number().int().min(10).max(86400).default(300),
  });

export const agentConfigSchema = z.strictObject({
  /** Capture interface; default: the interface of the default route. */
  interface: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:@-]+$/, 'is not an interface name').optional(),
  backend: z.enum(['auto', 'nft', 'pf', 'iptables', 'dry-run']).default('auto'),
  listen: listenAddress.default({ host: '127.0.0.1', port: 12345 }),
  tokenFile: z.string().min(1).optional(),
  /** HTTPS for the API (docs/tls.md); clientCaFile: mutual TLS, only clients with a certificate of that CA. */
  tls: z
    .strictObject({
      certFile: z.string().min(1),
      keyFile: z.string().min(1),
      clientCaFile: z.string().min(1).optional(),
      /** Subject CNs a client certificate may carry (needs clientCaFile); empty: any the client CA signed for client use. */
      clientNames: z.array(z.string().min(1).max(253)).max(64).default([]),
      /** How often the files are looked at again, so a rotated certificate is used without a restart. */
      reloadSeconds: z.number().int().min(1).max(3600).default(10),
    })
    .refine((t) => t.clientNames.length === 0 || t.clientCaFile !== undefined, { message: 'clientNames needs clientCaFile', path: ['clientNames'] })
    .optional(),
  stateDir: z.string().min(1).default('/var/lib/floodgate'),
  /** continuous: always capturing, analyses answer at once; window: the seed's capture-then-judge. */
  mode: z.enum(['continuous', 'window']).default('continuous'),
  capture: z
    .strictObject({
      slotMs: z.number().int().min(100).max(5000).default(100),
      promiscuous: z.boolean().default(false),
      snaplen: z.number().int().min(64).max(262144).default(256),
      // The kernel ring: 16 MiB holds ~0.5 s of a 100k pps flood at the default snaplen; raise it for faster links.
      bufferSize: z.number().int().min(1 << 20).max(1 << 30).default(16 << 20),
      filter: z.string().max(4096).optional(),
      // Per-slot source table; heavy hitters survive eviction, so a small table is enough for detection.
      maxSources: z.number().int().min(1024).max(1 << 22).default(16384),
      /** Per-slot destination table: only protected addresses enter it. */
      maxDestinations: z.number().int().min(16).max(1 << 20).default(1024),
    })
    .default({ slotMs: 100, promiscuous: false, snaplen: 256, bufferSize: 16 << 20, maxSources: 16384, maxDestinations: 1024 }),
  /** Extra protected addresses/CIDRs besides the capture interface's own (e.g. pod CIDRs on a node). */
  protect: z.array(unmappedIpOrCidr).max(4096).default([]),
  /** Never banned: cluster pod and service CIDRs, monitoring, offices. */
  allowlist: z.array(unmappedIpOrCidr).max(4096).default([]),
  autoDefense: z
    .strictObject({
      enabled: z.boolean().default(false),
      windowSeconds: z.number().min(0.5).max(60).default(1),
      banDurationSeconds: z.number().int().min(1).max(30 * 86400).default(60),
      thresholds: detectionThresholdOverridesSchema.default({}),
    })
    .default({ enabled: false, windowSeconds: 1, banDurationSeconds: 60, thresholds: {} }),
  /** Signature rules (docs/mitigation.md). */
  signatures: z
    .strictObject({
      /**
       * What the agent does with the rules its own verdicts call for: auto applies them, propose logs
       * them, disabled neither. Absent: auto with auto-defense, else propose. A DefensePolicy can say auto too.
       */
      mode: z.enum(['auto', 'propose', 'disabled']).optional(),
      /** How long a rule the agent applies on its own lasts (extended while the attack goes on). */
      durationSeconds: z.number().int().min(10).max(30 * 86400).default(300),
      /** Rules at once, all policies together. */
      maxActiveRules: z.number().int().min(1).max(1000).default(64),
      /** The longest any rule lasts on this agent. */
      maxDurationSeconds: z.number().int().min(1).max(30 * 86400).default(86400),
      /** synproxy for SYN floods: auto (when the host is ready, else the fallback limit), manage (set what it needs in this network namespace), disabled. */
      synproxy: z.enum(['auto', 'manage', 'disabled']).default('auto'),
    })
    .default({ durationSeconds: 300, maxActiveRules: 64, maxDurationSeconds: 86400, synproxy: 'auto' }),
  bans: z
    .strictObject({
      maxActiveBans: z.number().int().min(1).max(1_000_000).default(10_000),
      maxNewBansPerMinute: z.number().int().min(1).max(1_000_000).default(12_000),
      escalationFactor: z.number().min(1).max(100).default(2),
      maxBanDurationSeconds: z.number().int().min(1).max(365 * 86400).default(7 * 86400),
      ipv6Prefix: z.number().int().min(32).max(128).default(64),
    })
    .default({ maxActiveBans: 10_000, maxNewBansPerMinute: 12_000, escalationFactor: 2, maxBanDurationSeconds: 7 * 86400, ipv6Prefix: 64 }),
  api: z
    .strictObject({
      maxConcurrentAnalyses: z.number().int().min(1).max(64).default(4),
      /** Open connections; more are closed on accept. */
      maxConnections: z.number().int().min(1).max(65536).default(256),
      /** A client must send its request headers within this, and the whole request within requestTimeoutSeconds. */
      headersTimeoutSeconds: z.number().int().min(1).max(300).default(10),
      requestTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
      /** Idle keep-alive connections are closed after this. */
      keepAliveTimeoutSeconds: z.number().int().min(1).max(600).default(5),
    })
    .default({ maxConcurrentAnalyses: 4, maxConnections: 256, headersTimeoutSeconds: 10, requestTimeoutSeconds: 30, keepAliveTimeoutSeconds: 5 }),
  kube: kubeSectionSchema.optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
}).superRefine((cfg, ctx) => {
  const issue = plainHttpBrokerIssue(cfg);
  if (issue) ctx.addIssue({ code: 'custom', path: ['kube', 'identity', 'url'], message: issue });
});

/** The CA the node identity broker's certificate must chain to: kube.identity.caFile, else the agent CA of tls.clientCaFile. */
export function brokerCaFile(cfg: { tls?: { clientCaFile?: string }; kube?: { identity?: { caFile?: string } } }): string | undefined {
  return cfg.kube?.identity?.caFile ?? cfg.tls?.clientCaFile;
}

/**
 * Why the agent must not send its pod token to the configured broker: an
 * http:// URL while the agent has a CA to verify an https:// one with (the
 * token would cross the network in clear), unless allowPlainHttp says so.
 */
export function plainHttpBrokerIssue(cfg: { tls?: { clientCaFile?: string }; kube?: { identity?: { url: string; caFile?: string; allowPlainHttp?: boolean } } }): string | undefined {
  const identity = cfg.kube?.identity;
  const ca = brokerCaFile(cfg);
  if (!identity || !ca || identity.allowPlainHttp || !/^http:\/\//i.test(identity.url)) return undefined;
  return `is http:// but the agent has a CA (${ca}): the pod token would cross the network in clear; use the broker's https:// URL, or set kube.identity.allowPlainHttp: true`;
}



export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Read a YAML file (if given), lay the flag overrides over it, validate once. */
export function loadAgentConfig(file: string | undefined, overrides: AgentConfigInput = {}): AgentConfig {
  let fromFile: unknown = {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      fromFile = YAML.parse(text) ?? {};
    } catch (err) {
      throw new ConfigError(`config ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) throw new ConfigError(`config ${file} must be a YAML mapping`);
  }
  const flags = stripUndefined(overrides);
  const merged: Record<string, unknown> = { ...(fromFile as object), ...flags };
  // A flag sets one key of a section (--tls-cert), not the whole section.
  for (const [k, v] of Object.entries(flags)) {
    const base = (fromFile as Record<string, unknown>)[k];
    if (isPlainObject(v) && isPlainObject(base)) merged[k] = { ...base, ...stripUndefined(v) };
  }
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(`${file ? `config ${file}: ` : ''}${oneLineZodError(parsed.error)}`);
  return parsed.data;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The API token: --token-file wins, then FLOODGATE_TOKEN. Whitespace around a file's token is ignored. */
export function readToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (tokenFile) {
    let token: string;
    try {
      token = fs.readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`cannot read token file ${tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token.length < 16) throw new ConfigError(`token in ${tokenFile} is shorter than 16 characters`);
    return token;
  }
  const t = env.FLOODGATE_TOKEN?.trim();
  if (t !== undefined && t !== '' && t.length < 16) throw new ConfigError('FLOODGATE_TOKEN is shorter than 16 characters');
  return t || undefined;
}
