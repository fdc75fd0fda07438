// A minimal client for the bench's own reads and writes against the API
// server: the admin kubeconfig's server, CA and bearer token, one keep-alive
// HTTPS agent, JSON in and out, and a streaming watch. Independent of the
// controller's client so that measuring does not share its code paths.
import fs from 'node:fs';
import https from 'node:https';
import { createInterface } from 'node:readline';
import YAML from 'yaml';

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: { server?: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string } }[];
  users?: { name: string; user?: { token?: string } }[];
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export class KubeApi {
  readonly server: string;
  private readonly token: string;
  private readonly agent: https.Agent;

  constructor(kubeconfigFile: string, maxSockets = 32) {
    const doc = YAML.parse(fs.readFileSync(kubeconfigFile, 'utf8')) as KubeconfigDoc;
    const ctx = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
    const cluster = doc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster ?? doc.clusters?.[0]?.cluster;
    const user = doc.users?.find((u) => u.name === ctx?.user)?.user ?? doc.users?.[0]?.user;
    if (!cluster?.server || !user?.token) throw new Error(`${kubeconfigFile}: need a cluster server and a user token`);
    this.server = cluster.server.replace(/\/+$/, '');
    this.token = user.token;
    const ca = cluster['certificate-authority-data']
      ? Buffer.from(cluster['certificate-authority-data'], 'base64')
      : cluster['certificate-authority']
        ? fs.readFileSync(cluster['certificate-authority'])
        : undefined;
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca });
  }

  request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        this.server + path,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async json<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const r = await this.request<T>(method, path, body, contentType);
    if (r.status < 200 || r.status >= 300) {
      const msg = typeof r.body === 'object' && r.body ? (r.body as { message?: string }).message : String(r.body);
      throw Object.assign(new Error(`${method} ${path}: HTTP ${r.status}: ${msg ?? ''}`), { status: r.status });
    }
    return r.body;
  }

  /** All items of a list, paged. */
  async listAll<T>(path: string, pageSize = 500): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const q = new URLSearchParams({ limit: String(pageSize) });
      if (cont) q.set('continue', cont);
      const page = await this.json<{ items: T[]; metadata: { continue?: string; resourceVersion?: string } }>('GET', `${path}?${q}`);
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Watch `path` from resourceVersion, re-watching from the last seen one when
   * the server closes the stream. onEvent gets (type, object, receive time).
   */
  watch(
    path: string,
    resourceVersion: string,
    onEvent: (type: string, obj: { metadata?: { resourceVersion?: string } }, at: number) => void,
    /** 410 Gone on a re-watch: re-list, replay, and return the list's resourceVersion. */
    onGone?: () => Promise<string>,
  ): { stop(): void } {
    let stopped = false;
    let gone = false;
    let rv = resourceVersion;
    let current: ReturnType<typeof https.request> | undefined;
    const once = () =>
      new Promise<void>((resolve) => {
        const q = new URLSearchParams({ watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: '3600' });
        const req = https.request(`${this.server}${path}?${q}`, { agent: this.agent, headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' } }, (res) => {
          if (res.statusCode !== 200) {
            if (res.statusCode === 410) gone = true;
            res.resume();
            res.on('end', () => resolve());
            return;
          }
          const lines = createInterface({ input: res, crlfDelay: Infinity });
          lines.on('line', (line) => {
            if (!line.trim()) return;
            const at = performance.now();
            let ev: { type: string; object: { metadata?: { resourceVersion?: string } } };
            try {
              ev = JSON.parse(line) as typeof ev;
            } catch {
              return;
            }
            if (ev.type === 'ERROR') {
              if ((ev.object as { code?: number }).code === 410) gone = true;
              return;
            }
            if (ev.object?.metadata?.resourceVersion) rv = ev.object.metadata.resourceVersion;
            if (ev.type !== 'BOOKMARK') onEvent(ev.type, ev.object, at);
          });
          lines.on('close', () => resolve());
          lines.on('error', () => resolve());
          res.on('error', () => resolve());
        });
        req.on('error', () => resolve());
        current = req;
        req.end();
      });
    void (async () => {
      while (!stopped) {
        await once();
        if (stopped) break;
        await new Promise((r) => setTimeout(r, 200));
        if (gone && onGone) {
          gone = false;
          rv = await onGone().catch(() => rv);
        }
      }
    })();
    return {
      stop() {
        stopped = true;
        current?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
