// Probes and metrics. /healthz is the only unauthenticated route (see auth.ts).

import { Router } from 'express';
import type { Registry } from 'prom-client';
import type { TrafficAnalyzer } from '../traffic/traffic-analyzer-port.js';

export function healthRoutes(deps: { analyzer: TrafficAnalyzer; registry: Registry }): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Ready once the capture delivers slots: before that an analysis has nothing to read.
  router.get('/readyz', (_req, res) => {
    if (deps.analyzer.ready()) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', error: 'capture has not delivered any traffic slot yet' });
  });

  router.get('/metrics', async (_req, res) => {
    const text = await deps.registry.metrics();
    res.type(deps.registry.contentType).send(text);
  });

  return router;
}
