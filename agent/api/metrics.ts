// HTTP metrics of the agent API, registered on the agent's shared registry.
// Route labels are Express route patterns ("/v1/blocks/:ip"), never raw
// paths, so a scan of random URLs cannot grow the label set.

import type { Request, RequestHandler } from 'express';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../lib/metrics.js';

export type AnalysisOutcome = 'attack' | 'clean' | 'error' | 'rejected';

export interface ApiMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
  analyses: Counter<'result'>;
  analysesInFlight: Gauge;
}

/** Requests that matched no route (404s, and 401s answered before routing). */
export const UNMATCHED_ROUTE = 'unmatched';

export function createApiMetrics(registry: Registry): ApiMetrics {
  return {
    requests:
      counter(registry, {
        name: 'floodgate_api_requests_total',
        help: 'Agent API requests by method, route pattern and status code.',
        labelNames: ['method', 'route', 'status'],
      }),
    duration:
      histogram(registry, {
        name: 'floodgate_api_request_duration_seconds',
        help: 'Agent API request duration by method and route pattern.',
        labelNames: ['method', 'route'],
        // Window-mode analyses take as long as their window, hence the long tail.
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      }),
    analyses:
      counter(registry, {
        name: 'floodgate_api_analyses_total',
        help: 'Analyses requested through the API by result: attack, clean, error, rejected (concurrency limit).',
        labelNames: ['result'],
      }),
    analysesInFlight:
      gauge(registry, {
        name: 'floodgate_api_analyses_in_flight',
        help: 'Analyses currently running on behalf of API requests.',
      }),
  };
}

export function routeLabel(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : UNMATCHED_ROUTE;
}

export function observeRequests(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const route = routeLabel(req);
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.requests.inc({ method: req.method, route, status });
      metrics.duration.observe({ method: req.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
