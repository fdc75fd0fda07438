// The CLI's view of a running agent: the shared API client (api/agent/v1),
// with its errors turned into one-line CLI errors.
import { readToken } from '../agent/config/agent-config.js';
import { AgentApiClient, AgentApiError, AgentUrlError } from '../api/agent/v1/client.js';
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
      if (err instanceof AgentUrlError) throw new CliError(`--agent: ${err.message}`, 2);
      throw err;
    }
  }

  /** Run one call of the shared client, its failures as CLI errors. */
  async call<T>(fn: (client: AgentApiClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client);
    } catch (err) {
      if (!(err instanceof AgentApiError)) throw err;
      if (err.kind === 'unauthorized') throw new CliError(`${err.message} (pass --token-file or set FLOODGATE_TOKEN)`);
      throw new CliError(err.kind === 'refused' || err.kind === 'server' ? `agent refused: ${err.message}` : err.message);
    }
  }
}
