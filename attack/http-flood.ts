// HTTP flood through autocannon: N keep-alive connections, an optional
// overall request-rate cap, a fixed duration. The seed's Locust scenario.
import autocannon from 'autocannon';
import type { HttpFloodOptions } from './options.js';

export interface HttpProgress {
  elapsedSeconds: number;
  /** Responses and errors in the last second. */
  responses: number;
  errors: number;
  totalResponses: number;
  totalErrors: number;
}

export interface HttpFloodSummary {
  kind: 'http';
  url: string;
  /** The address the requests went to (the checked one). */
  address: string;
  connections: number;
  rateCap: number | null;
  durationSeconds: number;
  requests: { sent: number; completed: number; perSecond: number };
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  bytesRead: number;
}

export interface RunningHttpFlood {
  /** Stop early; the summary covers what was sent so far. */
  stop(): void;
  done: Promise<HttpFloodSummary>;
}

/** The URL with its host replaced by the checked address, so no second lookup can redirect the flood. */
export function pinnedUrl(url: string, address: string): string {
  const u = new URL(url);
  u.hostname = address.includes(':') ? `[${address}]` : address;
  return u.toString();
}

function headerObject(lines: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

export function startHttpFlood(opts: HttpFloodOptions, address: string, onProgress?: (p: HttpProgress) => void): RunningHttpFlood {
  const original = new URL(opts.url);
  const headers = { host: original.host, ...headerObject(opts.header) };
  const started = Date.now();
  let second = { responses: 0, errors: 0 };
  const totals = { sent: 0, responses: 0, errors: 0 };

  let instance: autocannon.Instance | undefined;
  const done = new Promise<HttpFloodSummary>((resolve, reject) => {
    instance = autocannon(
      {
        url: pinnedUrl(opts.url, address),
        connections: opts.concurrency,
        overallRate: opts.rate,
        duration: opts.duration,
        timeout: opts.timeout,
        method: opts.method,
        headers,
        body: opts.body,
        // TLS: present the name the user asked for, not the pinned address.
        // autocannon's own "sent" is an estimate; count the requests written.
        // ('request' is emitted by autocannon's client but missing from its type definitions.)
        setupClient: (client) => void (client as NodeJS.EventEmitter).on('request', () => totals.sent++),
        servername: original.protocol === 'https:' && !/^[\d.]+$|^\[/.test(original.hostname) ? original.hostname : undefined,
      },
      (err, r) => {
        clearInterval(ticker);
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        const statusCodes: Record<string, number> = {};
        for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = (s as { count: number }).count;
        const seconds = Math.max(0.001, (new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000);
        resolve({
          kind: 'http',
          url: opts.url,
          address,
          connections: opts.concurrency,
          rateCap: opts.rate ?? null,
          durationSeconds: Number(seconds.toFixed(2)),
          requests: { sent: totals.sent, completed: r.requests.total, perSecond: Math.round(r.requests.total / seconds) },
          latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: Number(r.latency.mean.toFixed(2)) },
          errors: r.errors,
          timeouts: r.timeouts,
          non2xx: r.non2xx,
          statusCodes,
          bytesRead: r.throughput.total,
        });
      },
    );
    instance.on('response', () => {
      second.responses++;
      totals.responses++;
    });
    instance.on('reqError', () => {
      second.errors++;
      totals.errors++;
    });
  });
  // Our own one-second ticker: autocannon's tick counter is reset by its sampler.
  const ticker = setInterval(() => {
    onProgress?.({ elapsedSeconds: Math.round((Date.now() - started) / 1000), responses: second.responses, errors: second.errors, totalResponses: totals.responses, totalErrors: totals.errors });
    second = { responses: 0, errors: 0 };
  }, 1000);
  return { stop: () => instance?.stop(), done };
}
