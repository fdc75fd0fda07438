// On-demand analysis, the per-second traffic series and the top talkers.

import { Router } from 'express';
import type { AnalysisRunner } from './analysis-runner.js';
import { jsonBody, requireBody } from './json-body.js';
import type { TrafficAnalyzer } from '../traffic/traffic-analyzer-port.js';
import { aggregateQuerySchema, analyzeBodySchema, talkersQuerySchema, trafficQuerySchema } from '../../api/agent/v1/requests.js';
import { parseInput } from './parse-input.js';

const DEFAULT_TRAFFIC_SECONDS = 60;
const DEFAULT_TALKERS_SECONDS = 7;
const DEFAULT_TALKERS = 20;
const DEFAULT_AGGREGATE_SECONDS = 1;
const DEFAULT_AGGREGATE_SOURCES = 1000;

export function analysisRoutes(deps: {
  analyzer: TrafficAnalyzer;
  runner: AnalysisRunner;
  maxBodyBytes: number;
}): Router {
  const router = Router();

  router.post('/v1/analyze', jsonBody(deps.maxBodyBytes), async (req, res) => {
    // Read per request: the ring's length is the analyzer's, not fixed at startup.
    const body = parseInput(analyzeBodySchema(deps.analyzer.maxWindowSeconds), requireBody(req));
    res.json(await deps.runner.run(body));
  });

  router.get('/v1/traffic', (req, res) => {
    const query = parseInput(trafficQuerySchema, req.query);
    res.json({ points: deps.analyzer.traffic(query.seconds ?? DEFAULT_TRAFFIC_SECONDS) });
  });

  // A mergeable aggregate of the last N seconds: the controller sums agents' aggregates and judges the sum.
  router.get('/v1/aggregate', (req, res) => {
    const query = parseInput(aggregateQuerySchema, req.query);
    res.json(deps.analyzer.aggregate(query.seconds ?? DEFAULT_AGGREGATE_SECONDS, query.sources ?? DEFAULT_AGGREGATE_SOURCES));
  });

  router.get('/v1/talkers', (req, res) => {
    const query = parseInput(talkersQuerySchema, req.query);
    res.json(deps.analyzer.talkers(query.seconds ?? DEFAULT_TALKERS_SECONDS, query.limit ?? DEFAULT_TALKERS));
  });

  return router;
}
