// A small JSON REST client for the Kubernetes API over node:http(s): one
// shared keep-alive agent per TLS identity (so 10,000 BlockEvents do not cost
// 30,000 TLS handshakes), the kubeconfig's authentication on every request
// (rotated token files and exec plugins included; a 401 drops cached
// credentials), errors that carry the HTTP status and the API server's Status,
// and streaming watches (one JSON event per line). Connections go through the
// cluster's proxy-url, else the environment's HTTPS_PROXY/NO_PROXY (client-go's
// rule), with Node's own proxy support (CONNECT for https). A request's
// timeout is a deadline for the whole answer, not an idle timer.

import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { CredentialSource, proxyEnvOf, type TlsOptions } from './credentials.js';
import type { KubeConfig } from './kube-config.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RestRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path from the API root, e.g. /api/v1/namespaces/default/pods. */
  path: string;
  query?: Query;
  body?: unknown;
  /** Default application/json (PATCH: application/merge-patch+json). */
  contentType?: string;
  /** Deadline for the whole answer (connect, send, headers, body); default the client's (60 s). */
  timeoutMs?: number;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

/** A request the API server answered with an error status; `body` is its Status (or text). */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  /** The HTTP status (also as statusCode, for statusCodeOf). */
  readonly code: number;
  readonly statusCode: number;
  readonly body: unknown;

  constructor(method: string, path: string, status: number, body: unknown) {
    const msg = typeof (body as { message?: unknown } | undefined)?.message === 'string' ? (body as { message: string }).message : typeof body === 'string' ? body.trim().slice(0, 300) : '';
    super(`${method} ${path}: HTTP ${status}${msg ? `: ${msg}` : ''}`);
    this.code = status;
    this.statusCode = status;
    this.body = body;
  }
}

export interface WatchHandle {
  abort(): void;
}

/**
 * Opens a watch: onEvent per event, onDone once when it ends (null: closed
 * by the server; else the error). abort() does not call onDone.
 */
export type WatchFn = (
  path: string,
  query: Query,
  onEvent: (type: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
) => Promise<WatchHandle>;

export interface RestClientOptions {
  /** Default deadline of a request's whole answer. Default 60 s. */
  timeoutMs?: number;
  /** Give up on a watch that got no response headers within this. Default 30 s. */
  watchConnectTimeoutMs?: number;
  /** Clock for credential caching (tests). */
  now?: () => number;
}

export class RestClient {
  readonly server: URL;
  private readonly creds: CredentialSource;
  private readonly proxyEnv: Record<string, string | undefined>;
  private readonly timeoutMs: number;
  private readonly watchConnectTimeoutMs: number;
  /** Per TLS identity: the keep-alive pool for requests, and an agent for watches (one connection each, closed with the watch). */
  private shared?: { tls: TlsOptions; agent: http.Agent; watchAgent: http.Agent };

  constructor(kc: KubeConfig, opts: RestClientOptions = {}) {
    this.creds = new CredentialSource(kc, opts.now);
    this.server = new URL(this.creds.server);
    this.proxyEnv = proxyEnvOf(kc.getCurrentCluster()!);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.watchConnectTimeoutMs = opts.watchConnectTimeoutMs ?? 30_000;
  }

  private url(path: string, query?: Query): URL {
    const url = new URL(this.server.pathname.replace(/\/+$/, '') + path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private agent(tls: TlsOptions, watch: boolean): http.Agent {
    if (this.shared?.tls !== tls) {
      // New TLS material (an exec plugin's rotated client certificate): new
      // pools; requests and watches still running on the old ones finish
      // there, and the old pool's idle connections are closed.
      const old = this.shared?.agent;
      if (old) for (const list of Object.values(old.freeSockets)) for (const s of list ?? []) s.destroy();
      const proxyEnv = this.proxyEnv;
      const make = (keepAlive: boolean): http.Agent =>
        this.server.protocol === 'https:'
          ? new https.Agent({ keepAlive, proxyEnv, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized, servername: tls.servername })
          : new http.Agent({ keepAlive, proxyEnv });
      this.shared = { tls, agent: make(true), watchAgent: make(false) };
    }
    return watch ? this.shared.watchAgent : this.shared.agent;
  }

  private async options(method: string, watch = false): Promise<http.RequestOptions> {
    const { tls, authorization } = await this.creds.credentials();
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
    if (authorization) headers.Authorization = authorization;
    return { method, headers, agent: this.agent(tls, watch) };
  }

  /** Send a request; resolves with the parsed JSON answer (undefined when empty). */
  async request<T>(r: RestRequest): Promise<T> {
    const method = r.method ?? 'GET';
    const url = this.url(r.path, r.query);
    const opts = await this.options(method);
    let payload: string | undefined;
    if (r.body !== undefined) {
      payload = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      const headers = opts.headers as http.OutgoingHttpHeaders;
      headers['Content-Type'] = r.contentType ?? (method === 'PATCH' ? MERGE_PATCH : 'application/json');
      headers['Content-Length'] = Buffer.byteLength(payload);
    }
    const send = url.protocol === 'https:' ? https.request : http.request;
    const deadlineMs = r.timeoutMs ?? this.timeoutMs;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      // A deadline for the whole answer: a server that trickles a byte now
      // and then must not hold the call (and the reconcile behind it) forever.
      const deadline = setTimeout(() => req.destroy(new Error(`${method} ${r.path}: no complete answer within ${deadlineMs} ms`)), deadlineMs);
      const done = <T,>(settle: (v: T) => void) => (v: T): void => {
        clearTimeout(deadline);
        settle(v);
      };
      const req = send(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(resolve)({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', done(reject));
        res.on('aborted', () => done(reject)(new Error(`${method} ${r.path}: connection aborted`)));
      });
      req.on('error', done(reject));
      req.end(payload);
    });
    let data: unknown;
    if (text !== '') {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (status >= 200 && status < 300) return data as T;
    if (status === 401) this.creds.invalidate();
    throw new KubeApiError(method, r.path, status, data);
  }

  /**
   * A streaming watch (?watch=true), one JSON event per line. The returned
   * handle can abort the request at any time, also while it is connecting.
   */
  readonly watch: WatchFn = async (path, query, onEvent, onDone) => {
    const url = this.url(path, { ...query, watch: true });
    const reqOpts = await this.options('GET', true);
    const ctl = new AbortController();
    let finished = false;
    const connectTimeoutMs = this.watchConnectTimeoutMs;
    const connectTimer = setTimeout(() => finish(new Error(`watch ${path}: no response within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(connectTimer);
      ctl.abort();
      onDone(err);
    };

    const send = url.protocol === 'https:' ? https.request : http.request;
    const req = send(url, { ...reqOpts, signal: ctl.signal }, (res) => {
      clearTimeout(connectTimer);
      const status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (status !== 200) {
        let body = '';
        res.on('data', (chunk: string) => {
          if (body.length < 8192) body += chunk;
        });
        res.on('end', () => {
          let msg = body.trim().slice(0, 300);
          try {
            msg = String((JSON.parse(body) as { message?: unknown }).message ?? msg);
          } catch {
            // not a Status
          }
          if (status === 401) this.creds.invalidate();
          finish(Object.assign(new Error(`watch ${path}: HTTP ${status}${msg ? `: ${msg}` : ''}`), { statusCode: status }));
        });
        res.on('error', finish);
        return;
      }
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (finished || line.trim() === '') return;
        let ev: { type?: unknown; object?: unknown };
        try {
          ev = JSON.parse(line) as { type?: unknown; object?: unknown };
        } catch {
          finish(new Error(`watch ${path}: malformed event line: ${line.slice(0, 100)}`));
          return;
        }
        onEvent(String(ev.type), ev.object);
      });
      // readline re-emits input errors on the interface: listen there too.
      lines.on('error', finish);
      res.on('error', finish);
      res.on('aborted', () => finish(new Error(`watch ${path}: connection aborted`)));
      lines.on('close', () => finish(null));
    });
    req.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
    req.on('error', finish);
    req.end();
    return {
      abort: () => {
        finished = true;
        clearTimeout(connectTimer);
        ctl.abort();
      },
    };
  };

  /** Close idle pooled connections. */
  close(): void {
    this.shared?.agent.destroy();
    this.shared?.watchAgent.destroy();
    this.shared = undefined;
  }
}
