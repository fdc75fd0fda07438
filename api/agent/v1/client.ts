// The one client of the agent's REST API (v1), shared by `floodgate blocks`,
// the controller and its dashboard. Failures are classified so callers can say what went wrong:
// unreachable, unauthorized, refused (4xx with the agent's message), server
// error, or an answer that breaks the contract (invalid).
//
// An agent's URL comes from whoever wrote a DefensePolicy or a BlockEvent, and
// its answers are input like any other, so the client
//   - calls only http(s)://host[:port] (agentBaseUrl), never follows a
//     redirect, and never connects to an unspecified, link-local (cloud
//     metadata), multicast or broadcast address, whatever a name resolves to;
//   - reads at most maxResponseBytes of an answer (per call, see
//     RESPONSE_LIMITS), asks for no compression, and gives up at the deadline
//     however slowly the bytes come;
//   - parses every answer with its schema (responses.ts) before anyone sees it,
//     and every request body with its schema (requests.ts) before it is sent.
// Host allowlists (which agents a policy may reach) are the caller's: see
// controller/agents/agent-url-policy.ts.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { z } from 'zod';
import { parseAddress } from '../../../lib/cidr.js';
import {
  analyzeBodySchema,
  blockBatchBodySchema,
  blockBodySchema,
  policyNameSchema,
  signatureIdSchema,
  signaturePolicySettingsSchema,
  signatureRequestSchema,
} from './requests.js';
import {
  analysisResultSchema,
  attacksSchema,
  banChangesSchema,
  banListSchema,
  banRecordSchema,
  blockBatchResultSchema,
  errorBodySchema,
  statusSchema,
  topTalkersSchema,
  trafficSchema,
  unblockAllResultSchema,
  unblockResultSchema,
  signatureListSchema,
  signatureRemovedSchema,
  signatureResultSchema,
} from './responses.js';
import type {
  AnalysisResult,
  AnalyzeRequest,
  AttackRecord,
  BanRecord,
  BlockBody,
  BlockResult,
  SignatureList,
  SignaturePolicySettings,
  SignatureRequest,
  SignatureResult,
  TopTalkers,
  TrafficPoint,
} from './types.js';

export type AgentErrorKind =
  /** No connection (DNS, refused, reset). */
  | 'unreachable'
  /** No complete answer before the deadline. */
  | 'timeout'
  /** 401, or 403 about the token. */
  | 'unauthorized'
  /** Another 4xx: the agent (or, for a body that breaks the contract, this client) said no; message says why. */
  | 'refused'
  /** 5xx. */
  | 'server'
  /** The answer breaks the contract: not JSON, the wrong shape, too large, a redirect. */
  | 'invalid'
  /** The URL's host is an address no agent may have (link-local, unspecified, multicast). */
  | 'forbidden';

export class AgentApiError extends Error {
  constructor(
    message: string,
    readonly kind: AgentErrorKind,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AgentApiError';
  }
}

/** An agent URL that is not http(s)://host[:port]. */
export class AgentUrlError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'AgentUrlError';
  }
}

/** Answer size limits (bytes, after which the client stops reading and fails the call). */
export const RESPONSE_LIMITS = Object.freeze({
  /** Health, one ban, one unblock, an error. */
  small: 64 * 1024,
  /** An analysis: a verdict of up to 10,000 attackers is ~3 MB. */
  analysis: 8 * 1024 * 1024,
  /** Traffic series (600 points), top talkers, attack history. */
  series: 4 * 1024 * 1024,
  /** A whole ban list: 10,000 bans are ~2.5 MB; this is ~130,000. */
  banList: 32 * 1024 * 1024,
  /** A batch answer: 10,000 results are ~1 MB. */
  batch: 4 * 1024 * 1024,
});

/** Error messages of an agent end up in conditions, Events and logs: one bounded line. */
const MAX_MESSAGE_CHARS = 300;

function oneLine(message: string): string {
  const flat = message.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS - 1)}…` : flat;
}

/**
 * The base URL of an agent: http(s)://host[:port], optionally with a trailing
 * "/". No credentials in the URL (the token goes in a header), no path (the
 * API's paths are absolute), no query, no fragment. Throws AgentUrlError.
 */
export function agentBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AgentUrlError(`agent URL "${oneLine(text).slice(0, 100)}" is not a URL such as http://10.0.0.5:12345`);
  }
  const shown = `${url.protocol}//${url.host}`;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgentUrlError(`agent URL must be http:// or https://, not ${url.protocol}`);
  if (url.username || url.password) throw new AgentUrlError(`agent URL ${shown} must not carry credentials: the token comes from a Secret`);
  if (url.pathname !== '/' || url.search || url.hash) throw new AgentUrlError(`agent URL must be scheme://host[:port] with no path, query or fragment (got ${shown}${url.pathname}${url.search ? '?…' : ''})`);
  if (!url.hostname) throw new AgentUrlError('agent URL has no host');
  return url;
}

/**
 * Why an address can be no agent's, or undefined when it can: unspecified
 * (0.0.0.0, ::), link-local (169.254.0.0/16 holds the cloud metadata
 * services; fe80::/10), multicast, and the IPv4 broadcast address. IPv4-mapped
 * IPv6 addresses are judged as the IPv4 address they carry. Loopback and
 * private addresses are fine: host agents and DaemonSet pods live there.
 */
export function forbiddenAgentAddress(address: string): string | undefined {
  const parsed = parseAddress(address.startsWith('[') ? address.slice(1, -1) : address);
  if (!parsed) return undefined; // a name: judged when it resolves
  let b = parsed.bytes;
  if (parsed.family === 6 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) b = b.slice(12);
  if (b.length === 4) {
    if (b.every((x) => x === 0)) return 'the unspecified address';
    if (b[0] === 169 && b[1] === 254) return 'a link-local address (cloud metadata lives there)';
    if (b[0]! >= 224 && b[0]! <= 239) return 'a multicast address';
    if (b.every((x) => x === 255)) return 'the broadcast address';
    return undefined;
  }
  if (b.every((x) => x === 0)) return 'the unspecified address';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'a link-local address';
  if (b[0] === 0xff) return 'a multicast address';
  return undefined;
}

/** dns.lookup, refusing names that resolve to a forbidden address (so a name cannot smuggle one in). */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    for (const a of addresses) {
      const why = forbiddenAgentAddress(a.address);
      if (why) {
        const refused = Object.assign(new Error(`${hostname} resolves to ${a.address}, ${why}: not an agent`), { code: 'EFORBIDDENADDRESS' });
        return callback(refused, '', 0);
      }
    }
    if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
    callback(null, first.address, first.family);
  });
};

// One keep-alive pool per scheme for every client in the process: the ban
// sync polls each agent several times a second.
const pools = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 16, lookup: guardedLookup } as http.AgentOptions),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 16, lookup: guardedLookup } as https.AgentOptions),
};

export interface AgentApiClientOptions {
  url: string;
  token?: string;
  timeoutMs?: number;
  /** PEM CA bundle for https:// agents (default: the system's). */
  ca?: string | Buffer;
}

interface CallOptions {
  body?: unknown;
  timeoutMs?: number;
  maxBytes?: number;
}

export class AgentApiClient {
  readonly base: URL;

  constructor(private readonly opts: AgentApiClientOptions) {
    this.base = agentBaseUrl(opts.url);
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 5000;
  }

  /** Send one request; resolve with the status and the (capped) body text. */
  private send(method: string, path: string, body: string | undefined, timeoutMs: number, maxBytes: number): Promise<{ status: number; text: string }> {
    const origin = this.base.origin;
    const literal = forbiddenAgentAddress(this.base.hostname);
    if (literal) return Promise.reject(new AgentApiError(`agent ${origin} is ${literal}: not an agent`, 'forbidden'));
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const https_ = this.base.protocol === 'https:';
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: AgentApiError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(err);
      };
      // A deadline for the whole exchange, body included: a server that
      // drips one byte a second is as dead as one that never answers.
      const timer = setTimeout(() => fail(new AgentApiError(`agent ${origin} did not answer within ${timeoutMs} ms`, 'timeout')), timeoutMs);
      const options: https.RequestOptions = { method, headers, agent: https_ ? (this.opts.ca ? undefined : pools['https:']) : pools['http:'], lookup: guardedLookup };
      if (https_ && this.opts.ca) options.ca = this.opts.ca;
      const req = (https_ ? https : http).request(url, options, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          res.resume();
          return fail(new AgentApiError(`agent ${origin} answered ${path} with a redirect (HTTP ${status}); agents are called at their own URL only`, 'invalid', status));
        }
        const declared = Number(res.headers['content-length']);
        const tooLarge = () => new AgentApiError(`agent ${origin} answered ${path} with more than ${maxBytes} bytes: refused`, 'invalid', status);
        if (Number.isFinite(declared) && declared > maxBytes) return fail(tooLarge());
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > maxBytes) return fail(tooLarge());
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status, text: Buffer.concat(chunks, total).toString('utf8') });
        });
        res.on('error', (err) => fail(new AgentApiError(`agent ${origin} broke off its answer: ${err.message}`, 'unreachable')));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EFORBIDDENADDRESS') return fail(new AgentApiError(`agent ${origin}: ${err.message}`, 'forbidden'));
        fail(new AgentApiError(`cannot reach agent ${origin}: ${err.code ?? err.message}`, 'unreachable'));
      });
      req.end(body);
    });
  }

  /** One call: send, classify the status, parse the answer with its schema. */
  private async call<S extends z.ZodType>(schema: S, method: string, path: string, o: CallOptions = {}): Promise<z.output<S>> {
    const origin = this.base.origin;
    const { status, text } = await this.send(method, path, o.body === undefined ? undefined : JSON.stringify(o.body), o.timeoutMs ?? this.timeoutMs, o.maxBytes ?? RESPONSE_LIMITS.small);
    let data: unknown;
    let json = true;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      json = false;
    }
    if (status >= 200 && status < 300) {
      if (!json) throw new AgentApiError(`agent ${origin} answered ${path} with something that is not JSON`, 'invalid', status);
      const parsed = schema.safeParse(data);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
        throw new AgentApiError(oneLine(`agent ${origin} answered ${path} with something that is not the agent API v1: ${where}${issue?.message ?? 'invalid'}`), 'invalid', status);
      }
      return parsed.data;
    }
    const error = errorBodySchema.safeParse(data);
    const msg = error.success && error.data.error.trim() ? oneLine(error.data.error) : `HTTP ${status}`;
    if (status === 401 || (status === 403 && /token/i.test(msg))) {
      throw new AgentApiError(`agent ${origin} rejected the token: ${msg}`, 'unauthorized', status);
    }
    throw new AgentApiError(msg, status >= 500 ? 'server' : status >= 400 ? 'refused' : 'invalid', status);
  }

  /** A request body the contract refuses is never sent: the caller hears why, as a refusal. */
  private checked<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new AgentApiError(oneLine(`not sent to agent ${this.base.origin}: ${where}${issue?.message ?? 'invalid request'}`), 'refused');
  }

  healthz(): Promise<{ status: string }> {
    return this.call(statusSchema, 'GET', '/healthz');
  }

  /** /readyz needs the token, so it also proves the token works. */
  readyz(): Promise<{ status: string }> {
    return this.call(statusSchema, 'GET', '/readyz');
  }

  async analyze(req: AnalyzeRequest): Promise<AnalysisResult> {
    const body = this.checked(analyzeBodySchema(600), req);
    const waitMs = body.mode === 'window' ? body.windowSeconds * 1000 : 0;
    return this.call(analysisResultSchema, 'POST', '/v1/analyze', { body, timeoutMs: this.timeoutMs + waitMs, maxBytes: RESPONSE_LIMITS.analysis });
  }

  async traffic(seconds: number): Promise<TrafficPoint[]> {
    return (await this.call(trafficSchema, 'GET', `/v1/traffic?seconds=${Math.round(seconds)}`, { maxBytes: RESPONSE_LIMITS.series })).points;
  }

  talkers(seconds: number, limit: number): Promise<TopTalkers> {
    return this.call(topTalkersSchema, 'GET', `/v1/talkers?seconds=${Math.round(seconds)}&limit=${Math.round(limit)}`, { maxBytes: RESPONSE_LIMITS.series });
  }

  async attacks(): Promise<AttackRecord[]> {
    return (await this.call(attacksSchema, 'GET', '/v1/attacks', { maxBytes: RESPONSE_LIMITS.series })).attacks;
  }

  listBlocks(): Promise<{ blocks: BanRecord[]; version?: string }> {
    return this.call(banListSchema, 'GET', '/v1/blocks', { maxBytes: RESPONSE_LIMITS.banList });
  }

  /**
   * What changed since `since` (a version from an earlier answer; undefined:
   * everything). An agent without incremental reads answers with the whole
   * list and no version: then full is true and version undefined.
   */
  async listBlocksSince(since: string | undefined): Promise<{ blocks: BanRecord[]; removed: string[]; version?: string; full: boolean }> {
    const path = since === undefined ? '/v1/blocks' : `/v1/blocks?since=${encodeURIComponent(since)}`;
    const r = await this.call(banChangesSchema, 'GET', path, { maxBytes: RESPONSE_LIMITS.banList });
    return { blocks: r.blocks, removed: r.removed ?? [], version: r.version, full: since === undefined || r.full !== false || r.version === undefined };
  }

  async block(body: BlockBody): Promise<BanRecord> {
    return this.call(banRecordSchema, 'POST', '/v1/blocks', { body: this.checked(blockBodySchema, body) });
  }

  async blockMany(blocks: BlockBody[]): Promise<{ results: BlockResult[] }> {
    const body = this.checked(blockBatchBodySchema, { blocks });
    const r = await this.call(blockBatchResultSchema, 'POST', '/v1/blocks/batch', { body, timeoutMs: 30_000, maxBytes: RESPONSE_LIMITS.batch });
    if (r.results.length !== blocks.length) {
      throw new AgentApiError(`agent ${this.base.origin} answered ${r.results.length} results for ${blocks.length} bans`, 'invalid');
    }
    return r;
  }

  /** Removes every ban on the agent; answers how many there were. */
  unblockAll(): Promise<{ removed: number }> {
    return this.call(unblockAllResultSchema, 'DELETE', '/v1/blocks?all=true');
  }

  unblock(target: string): Promise<{ removed: boolean }> {
    return this.call(unblockResultSchema, 'DELETE', `/v1/blocks/${encodeURIComponent(target)}`);
  }

  /** Every signature rule the agent holds, with its counters, and the policies' settings. */
  signatures(): Promise<SignatureList> {
    return this.call(signatureListSchema, 'GET', '/v1/signatures', { maxBytes: RESPONSE_LIMITS.series });
  }

  /**
   * Add (or extend) one signature rule. A refusal (never-block, not protected,
   * unsafe, over a cap, unsupported) throws AgentApiError kind 'refused' with
   * the agent's one-line reason; the answer of a success is its record.
   */
  async addSignature(req: SignatureRequest): Promise<Extract<SignatureResult, { ok: true }>> {
    const r = await this.call(signatureResultSchema, 'POST', '/v1/signatures', { body: this.checked(signatureRequestSchema, req) });
    if (!r.ok) throw new AgentApiError(oneLine(r.error), 'refused');
    return r;
  }

  /** Remove a rule by id, with every helper rule it added; absent is not an error. */
  removeSignature(id: string): Promise<{ removed: boolean }> {
    return this.call(signatureRemovedSchema, 'DELETE', `/v1/signatures/${this.checked(signatureIdSchema, id)}`);
  }

  /** Tell the agent what a policy lets it do with its own verdicts. */
  setSignaturePolicy(policy: string, settings: SignaturePolicySettings): Promise<SignaturePolicySettings> {
    const name = this.checked(policyNameSchema, policy);
    return this.call(signaturePolicySettingsSchema, 'PUT', `/v1/signatures/policies/${encodeURIComponent(name)}`, { body: this.checked(signaturePolicySettingsSchema, settings) });
  }
}
