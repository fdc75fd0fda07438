// Detected attacks, newest first: the agent's attack history (one record per
// episode), for the dashboard's attack history and `curl`.
import { Router } from 'express';
import type { AttackRecord } from '../../api/agent/v1/types.js';

/** The attack history as the API serves it (agent/defense/attack-history.ts's records are these). */
export interface AttackLog {
  list(): AttackRecord[];
}

export function attackRoutes(deps: { attacks?: AttackLog }): Router {
  const router = Router();
  router.get('/v1/attacks', (_req, res) => {
    res.json({ attacks: deps.attacks?.list() ?? [] });
  });
  return router;
}
