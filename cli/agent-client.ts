// A small client for a running agent's REST API, used by `floodgate blocks`.
import { readToken } from '../agent/config/agent-config.js';
import { CliError } from './cli-error.js';

export interface AgentClientOptions {
  agent: string;
  tokenFile?: string;
}

export class AgentClient {
  private readonly base: URL;
  private readonly token?: string;

  constructor(opts: AgentClientOptions) {
    try {
      this.base = new URL(opts.agent);
    } catch {
      throw new CliError(`--agent: "${opts.agent}" is not a URL such as http://127.0.0.1:12345`, 2);
    }
    this.token = readToken(opts.tokenFile);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new CliError(`cannot reach the agent at ${this.base.origin}: ${cause}`);
    }
    const text = await res.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: reported below */
    }
    if (!res.ok) {
      const msg = (data as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`;
      throw new CliError(`agent refused: ${msg}${res.status === 401 ? ' (pass --token-file or set FLOODGATE_TOKEN)' : ''}`);
    }
    return data as T;
  }
}
