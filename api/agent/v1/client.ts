// The one client of the agent's REST API (v1), shared by `floodgate blocks`,
// the controller and its dashboard. Failures are classified so callers can say what went wrong:
// unreachable, unauthorized, refused (4xx with the agent's message), or server error.
import type { AnalysisResult, AnalyzeRequest, BanRecord, BlockBody, BlockResult } from './types.js';

export type AgentErrorKind = 'unreachable' | 'timeout' | 'unauthorized' | 'refused' | 'server';

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

export interface AgentApiClientOptions {
  url: string;
  token?: string;
  timeoutMs?: number;
}


export class AgentApiClient {
  readonly base: URL;

  constructor(private readonly opts: AgentApiClientOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`agent URL must be http(s): ${opts.url}`);
  }

  async request<T>(method: string, path: string, body?: unknown, timeoutMs = this.opts.timeoutMs ?? 5000): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      if (e.name === 'TimeoutError') throw new AgentApiError(`agent ${this.base.origin} did not answer within ${timeoutMs} ms`, 'timeout');
      throw new AgentApiError(`cannot reach agent ${this.base.origin}: ${e.cause?.code ?? (err as Error).message}`, 'unreachable');
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (res.ok) return data as T;
    const msg = (data as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`;
    if (res.status === 401 || (res.status === 403 && /token/i.test(msg))) {
      throw new AgentApiError(`agent ${this.base.origin} rejected the token: ${msg}`, 'unauthorized', res.status);
    }
    throw new AgentApiError(msg, res.status >= 500 ? 'server' : 'refused', res.status);
  }

  healthz(): Promise<{ status: string }> {
    return this.request('GET', '/healthz');
  }

  /** /readyz needs the token, so it also proves the token works. */
  readyz(): Promise<{ status: string }> {
    return this.request('GET', '/readyz');
  }

  analyze(req: AnalyzeRequest): Promise<AnalysisResult> {
    const waitMs = req.mode === 'window' ? req.windowSeconds * 1000 : 0;
    return this.request('POST', '/v1/analyze', req, (this.opts.timeoutMs ?? 5000) + waitMs);
  }

  listBlocks(): Promise<{ blocks: BanRecord[] }> {
    return this.request('GET', '/v1/blocks');
  }

  /**
   * What changed since `since` (a version from an earlier answer; undefined:
   * everything). An agent without incremental reads answers with the whole
   * list and no version: then full is true and version undefined.
   */
  async listBlocksSince(since: string | undefined): Promise<{ blocks: BanRecord[]; removed: string[]; version?: string; full: boolean }> {
    const r = await this.request<{ blocks: BanRecord[]; removed?: string[]; version?: string; full?: boolean }>('GET', since === undefined ? '/v1/blocks' : `/v1/blocks?since=${encodeURIComponent(since)}`);
    return { blocks: r.blocks, removed: r.removed ?? [], version: r.version, full: since === undefined || r.full !== false || r.version === undefined };
  }

  block(body: BlockBody): Promise<BanRecord> {
    return this.request('POST', '/v1/blocks', body);
  }

  blockMany(blocks: BlockBody[]): Promise<{ results: BlockResult[] }> {
    return this.request('POST', '/v1/blocks/batch', { blocks }, 30_000);
  }

  /** Removes every ban on the agent; answers how many there were. */
  unblockAll(): Promise<{ removed: number }> {
    return this.request('DELETE', '/v1/blocks?all=true');
  }

  unblock(target: string): Promise<{ removed: boolean }> {
    return this.request('DELETE', `/v1/blocks/${encodeURIComponent(target)}`);
  }
}
