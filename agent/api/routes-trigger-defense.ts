// The seed's POST /trigger-defense, kept so its documented curl still works:
// analyze a window, ban every flagged attacker, answer in the seed's
// snake_case shape plus what actually happened (bans made, bans refused).

import { Router } from 'express';
import type { Logger } from 'pino';
import type { AttackerEvidence, DetectionThresholds, Verdict } from '../../detection/types.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { bodyOf, jsonBody } from './json-body.js';
import { BanRefusedError, type BanService } from '../bans/ban-service-port.js';
import type { BanRecord, TriggerDefenseResponse } from '../../api/agent/v1/types.js';
import { triggerDefenseBodySchema } from '../../api/agent/v1/requests.js';
import { parseInput } from './parse-input.js';

const POLICY = 'trigger-defense';
const IP_COUNTS_LIMIT = 20;


const short = (n: number): string => String(Number(n.toFixed(3)));

/** Why a source is banned, e.g. "share 0.42 > 0.2; source_pps 12000 >= 5000". */
export function banReason(attacker: AttackerEvidence, thresholds: DetectionThresholds): string {
  const parts = attacker.rules.map((rule) => {
    switch (rule) {
      case 'share':
        return `share ${short(attacker.share)} > ${short(thresholds.attackerShareThreshold)}`;
      case 'source_pps':
        return `source_pps ${Math.round(attacker.pps)} >= ${thresholds.sourcePpsThreshold}`;
      case 'source_bps':
        return `source_bps ${Math.round(attacker.bps)} >= ${thresholds.sourceBpsThreshold}`;
      default:
        return rule;
    }
  });
  const text = parts.join('; ') || 'flagged by detection';
  return (attacker.vectorLabel ? `${text}; ${attacker.vectorLabel}` : text).slice(0, 200);
}

export function ipCounts(verdict: Verdict): Record<string, number> {
  const heaviest = [...verdict.attackers].sort((a, b) => b.packets - a.packets).slice(0, IP_COUNTS_LIMIT);
  const counts = new Map(heaviest.map((a) => [a.ip, a.packets]));
  if (verdict.topSource && !counts.has(verdict.topSource.ip)) counts.set(verdict.topSource.ip, verdict.topSource.packets);
  return Object.fromEntries(counts);
}

export function triggerDefenseRoutes(deps: {
  analyzer: { readonly maxWindowSeconds: number };
  runner: AnalysisRunner;
  bans: BanService;
  logger: Logger;
  maxBodyBytes: number;
}): Router {
  const { bans, logger } = deps;
  const router = Router();

  router.post('/trigger-defense', jsonBody(deps.maxBodyBytes), async (req, res) => {
    // The seed accepted a bare POST: no body means all defaults.
    const body = parseInput(triggerDefenseBodySchema(deps.analyzer.maxWindowSeconds), bodyOf(req) ?? {});
    // The caller says an attack is on: the share rule picks among all sources, as the seed's did.
    const { verdict } = await deps.runner.run({
      windowSeconds: body.waitTime,
      thresholds: { attackerShareThreshold: body.threshold },
      trigger: 'trigger-defense',
    });

    const banned: BanRecord[] = [];
    const refused: { ip: string; reason: string }[] = [];
    // One at a time: the ban service enforces rate and cap limits per call.
    for (const attacker of verdict.attackers) {
      try {
        banned.push(
          await bans.block({
            cidr: attacker.ip,
            durationSeconds: body.banDuration,
            reason: banReason(attacker, verdict.thresholds),
            policy: POLICY,
            source: 'api',
          }),
        );
      } catch (err) {
        if (err instanceof BanRefusedError) {
          refused.push({ ip: attacker.ip, reason: err.message });
        } else {
          // Keep going: the bans already made are real and the caller must see them.
          logger.error({ err, ip: attacker.ip }, 'trigger-defense: ban failed');
          refused.push({ ip: attacker.ip, reason: 'ban failed (see the agent log)' });
        }
      }
    }
    logger.info(
      { underAttack: verdict.underAttack, attackers: verdict.attackers.length, banned: banned.length, refused: refused.length },
      'trigger-defense completed',
    );

    const response: TriggerDefenseResponse = {
      under_attack: verdict.underAttack,
      ip: verdict.attackers[0]?.ip ?? null,
      ip_counts: ipCounts(verdict),
      banned,
      refused,
      verdict,
    };
    res.json(response);
  });

  return router;
}
