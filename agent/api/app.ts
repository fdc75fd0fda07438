// The agent's REST API as an Express application. Transport (bind address,
// TLS, the loopback-only rule without a token) is server.ts's job.

import express from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AnalysisLimiter, createAnalysisRunner } from './analysis-runner.js';
import { bearerAuth } from './auth.js';
import { errorHandler, notFound } from './errors.js';
import { loopbackHostOnly } from './host-guard.js';
import { DEFAULT_MAX_BODY_BYTES, requireJsonOnWrites } from './json-body.js';
import { createApiMetrics, observeRequests } from './metrics.js';
import type { BanService } from '../bans/ban-service-port.js';
import type { TrafficAnalyzer } from '../traffic/traffic-analyzer-port.js';
import { requestLog } from './request-log.js';
import { analysisRoutes } from './routes-analysis.js';
import { blockRoutes, type BanChangeSource } from './routes-blocks.js';
import { healthRoutes } from './routes-health.js';
import { triggerDefenseRoutes } from './routes-trigger-defense.js';
import { attackRoutes, type AttackLog } from './routes-attacks.js';
import { signatureRoutes } from './routes-signatures.js';
import type { SignatureService } from '../signatures/signature-service-port.js';

export interface AgentApiDeps {
  analyzer: TrafficAnalyzer;
  bans: BanService;
  /** Bearer token; absent means loopback-only, unauthenticated (startAgentServer enforces loopback). */
  token?: string;
  logger: Logger;
  /** The agent's shared registry; the API adds floodgate_api_* metrics to it. */
  registry: Registry;
  limits: { maxConcurrentAnalyses: number; maxBodyBytes?: number };
  defaultMode: 'continuous' | 'window';
  /** Detected attacks for GET /v1/attacks (auto-defense's history); absent: an empty list. */
  attacks?: AttackLog;
  /** GET /v1/blocks?since=: what changed since a version; absent: always the whole list. */
  banChanges?: BanChangeSource;
  /** Signature rules (/v1/signatures); absent: the routes answer 404. */
  signatures?: SignatureService;
}

/**
 * app.locals key: whether the app demands a token. startAgentServer reads it so
 * an app built without a token is never exposed beyond loopback, whatever
 * token the server itself was given.
 */
export const REQUIRES_TOKEN = 'floodgateRequiresToken';

export function createAgentApi(deps: AgentApiDeps): express.Application {
  if (deps.token !== undefined && deps.token.trim() === '') {
    throw new Error('agent API token is empty: set a token or leave it unset for loopback-only mode');
  }
  const maxBodyBytes = deps.limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 64) {
    throw new RangeError(`limits.maxBodyBytes must be an integer >= 64, got ${String(maxBodyBytes)}`);
  }
  const metrics = createApiMetrics(deps.registry);
  const runner = createAnalysisRunner({
    analyzer: deps.analyzer,
    limiter: new AnalysisLimiter(deps.limits.maxConcurrentAnalyses),
    metrics,
    logger: deps.logger,
    defaultMode: deps.defaultMode,
  });

  const app = express();
  app.locals[REQUIRES_TOKEN] = deps.token !== undefined;
  app.disable('x-powered-by');
  app.set('etag', false);
  // Simple query parsing: ?a[b]=1 stays a string key, never a nested object.
  app.set('query parser', 'simple');

  app.use(requestLog(deps.logger));
  app.use(observeRequests(metrics));
  app.use((_req, res, next) => {
    // Ban lists and verdicts are live state behind a token: never cache them.
    res.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    next();
  });
  // Without a token: answer only loopback Host names (DNS rebinding).
  if (deps.token === undefined) app.use(loopbackHostOnly(deps.logger));
  // Before every route, so a route added later cannot forget authentication.
  app.use(bearerAuth(deps.token, deps.logger));
  // No CORS-simple writes: every POST declares JSON.
  app.use(requireJsonOnWrites);

  app.use(healthRoutes(deps));
  app.use(analysisRoutes({ analyzer: deps.analyzer, runner, maxBodyBytes }));
  app.use(blockRoutes({ bans: deps.bans, logger: deps.logger, maxBodyBytes, changes: deps.banChanges }));
  app.use(attackRoutes({ attacks: deps.attacks }));
  if (deps.signatures) app.use(signatureRoutes({ signatures: deps.signatures, logger: deps.logger, maxBodyBytes }));
  app.use(triggerDefenseRoutes({ analyzer: deps.analyzer, runner, bans: deps.bans, logger: deps.logger, maxBodyBytes }));

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
