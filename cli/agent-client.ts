// The CLI's view of a running agent: the shared API client, with its errors
// turned into one-line CLI errors.
import { readToken } from '../agent/config/agent-config.js';
import { AgentApiClient, AgentApiError } from '../api/agent/v1/client.js';
import { CliError } from './cli-error.js';

export interface AgentClientOptions {
  agent: string;
  tokenFile?: string;
}

export class AgentClient {
  private readonly client: AgentApiClient;

  constructor(opts: AgentClientOptions) {
    try {
      this.client = new AgentApiClient({ url: opts.agent, token: readToken(opts.tokenFile) });
    } catch (err) {
      if (err instanceof TypeError) throw new CliError(`--agent: "${opts.agent}" is not a URL such as http://127.0.0.1:12345`, 2);
      throw err;
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.client.request<T>(method, path, body);
    } catch (err) {
      if (!(err instanceof AgentApiError)) throw err;
      if (err.kind === 'unauthorized') throw new CliError(`${err.message} (pass --token-file or set FLOODGATE_TOKEN)`);
      throw new CliError(err.kind === 'refused' || err.kind === 'server' ? `agent refused: ${err.message}` : err.message);
    }
  }
}
