// The CLI's view of a running agent: the shared API client (api/agent/v1),
// with its errors turned into one-line CLI errors.
import { readToken } from '../agent/config/agent-config.js';
import { AgentApiClient, AgentApiError, AgentUrlError, type AgentTlsOptions } from '../api/agent/v1/client.js';
import { loadTlsFiles, TlsFileError } from '../lib/tls-files.js';
import { CliError } from './cli-error.js';

export interface AgentClientOptions {
  agent: string;
  tokenFile?: string;
  /** PEM CA bundle of an https:// agent (else the system's CAs). */
  caFile?: string;
  /** Client certificate and key for an agent that requires mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** The name the agent's certificate carries, when the URL's host is not it. */
  serverName?: string;
}

function tlsOptions(opts: AgentClientOptions): AgentTlsOptions | undefined {
  if (!opts.caFile && !opts.certFile && !opts.keyFile && !opts.serverName) return undefined;
  if (!opts.agent.startsWith('https:')) throw new CliError('--ca-file, --cert-file, --key-file and --server-name are for an https:// --agent', 2);
  try {
    const m = loadTlsFiles({ caFile: opts.caFile, certFile: opts.certFile, keyFile: opts.keyFile });
    return { ...(m.ca ? { ca: m.ca } : {}), ...(m.cert && m.key ? { cert: m.cert, key: m.key } : {}), ...(opts.serverName ? { servername: opts.serverName } : {}) };
  } catch (err) {
    if (err instanceof TlsFileError) throw new CliError(err.message, 2);
    throw err;
  }
}

export class AgentClient {
  private readonly client: AgentApiClient;

  constructor(opts: AgentClientOptions) {
    try {
      this.client = new AgentApiClient({ url: opts.agent, token: readToken(opts.tokenFile), tls: tlsOptions(opts) });
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
      if (err.kind === 'unauthorized') {
        throw new CliError(`${err.message} (${/certificate/.test(err.message) ? 'pass --cert-file and --key-file' : 'pass --token-file or set FLOODGATE_TOKEN'})`);
      }
      if (err.kind === 'untrusted') throw new CliError(`${err.message} (pass the agent's CA with --ca-file, and --server-name if the URL's host is not in its certificate)`);
      throw new CliError(err.kind === 'refused' || err.kind === 'server' ? `agent refused: ${err.message}` : err.message);
    }
  }
}
