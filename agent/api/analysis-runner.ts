// Runs analyses for API requests under a concurrency bound. A window-mode
// analysis holds a capture for its whole window, so unbounded callers could
// pile up captures; beyond the bound the caller gets 429 and a Retry-After
// estimated from when the earliest running analysis should finish.

import type { Logger } from 'pino';
import { ApiError } from './errors.js';
import type { ApiMetrics } from './metrics.js';
import type { AnalysisResult, AnalyzeRequest } from '../../api/agent/v1/types.js';
import type { TrafficAnalyzer } from '../traffic/traffic-analyzer-port.js';

export class AnalysisLimiter {
  // Expected end (ms since epoch) of each running analysis.
  private readonly running = new Set<{ endsAt: number }>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxConcurrentAnalyses must be a positive integer, got ${String(max)}`);
    }
  }

  get active(): number {
    return this.running.size;
  }

  /** A release function, or undefined when `max` analyses are running already. */
  tryAcquire(expectedSeconds: number, now = Date.now()): (() => void) | undefined {
    if (this.running.size >= this.max) return undefined;
    const slot = { endsAt: now + expectedSeconds * 1000 };
    this.running.add(slot);
    return () => {
      this.running.delete(slot);
    };
  }

  /** Whole seconds until the earliest running analysis should be done, at least 1. */
  retryAfterSeconds(now = Date.now()): number {
    let earliest = Infinity;
    for (const slot of this.running) earliest = Math.min(earliest, slot.endsAt);
    return Number.isFinite(earliest) ? Math.max(1, Math.ceil((earliest - now) / 1000)) : 1;
  }
}

export interface AnalysisRunner {
  run(req: AnalyzeRequest): Promise<AnalysisResult>;
}

export function createAnalysisRunner(opts: {
  analyzer: TrafficAnalyzer;
  limiter: AnalysisLimiter;
  metrics: ApiMetrics;
  logger: Logger;
  defaultMode: 'continuous' | 'window';
}): AnalysisRunner {
  const { analyzer, limiter, metrics, logger } = opts;
  return {
    async run(req) {
      const mode = req.mode ?? opts.defaultMode;
      // Continuous answers from the ring at once; window captures for the whole window.
      const release = limiter.tryAcquire(mode === 'window' ? req.windowSeconds : 1);
      if (!release) {
        metrics.analyses.inc({ result: 'rejected' });
        throw new ApiError(429, `too many concurrent analyses (limit ${limiter.max}): retry later`, {
          'Retry-After': String(limiter.retryAfterSeconds()),
        });
      }
      metrics.analysesInFlight.inc();
      try {
        const result = await analyzer.analyze({ ...req, mode });
        metrics.analyses.inc({ result: result.verdict.underAttack ? 'attack' : 'clean' });
        return result;
      } catch (err) {
        metrics.analyses.inc({ result: 'error' });
        if (err instanceof ApiError) throw err;
        logger.error({ err, windowSeconds: req.windowSeconds, mode }, 'analysis failed');
        if (!analyzer.ready()) throw new ApiError(503, 'capture is not ready yet: no traffic slots received');
        throw new ApiError(500, 'analysis failed (see the agent log)');
      } finally {
        metrics.analysesInFlight.dec();
        release();
      }
    },
  };
}
