// Ban list CRUD. Both writes are idempotent: POST of an active ban extends it
// and answers 200 (201 only when the ban is new), DELETE of an absent ban
// answers 200 {removed:false}.

import { Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { canonicalCidr } from '../../lib/cidr.js';
import { jsonBody, requireBody } from './json-body.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import type { BanService, BlockRequest } from '../bans/ban-service-port.js';
import { banTarget, blockBatchBodySchema, blockBodySchema, MAX_BATCH_BLOCKS } from '../../api/agent/v1/requests.js';
import { parseInput } from './parse-input.js';

const deleteParamsSchema = z.strictObject({ ip: banTarget });
// Unbanning everything must be asked for by name, never by a bare DELETE of the collection.
const deleteAllQuerySchema = z.strictObject({
  all: z.literal('true', { error: 'must be "true": DELETE /v1/blocks?all=true removes every ban (one address: DELETE /v1/blocks/<ip>)' }),
});

/** Canonical CIDRs of bans active at `now`, to tell a new ban from an extended one. */
function activeCidrs(bans: readonly BanRecord[], now: number): Set<string> {
  const active = new Set<string>();
  for (const ban of bans) {
    if (Date.parse(ban.expiresAt) > now) active.add(canonicalCidr(ban.cidr) ?? ban.cidr);
  }
  return active;
}

/** Incremental reads of the ban list (agent/bans/ban-changes.ts). */
export interface BanChangeSource {
  version(): string;
  changesSince(since: string | undefined): { blocks: BanRecord[]; removed: string[]; version: string; full: boolean };
}

// Other query parameters are ignored, as they always were on this route.
const sinceQuerySchema = z.object({ since: z.string().max(64).optional() });

export function blockRoutes(deps: { bans: BanService; logger: Logger; maxBodyBytes: number; changes?: BanChangeSource }): Router {
  const { bans, logger } = deps;
  const router = Router();

  // ?since=<version> (with a change source): only what changed since that
  // version, { blocks, removed, version, full }. Without: the whole list,
  // with the version to start from.
  router.get('/v1/blocks', (req, res) => {
    const { since } = parseInput(sinceQuerySchema, { ...req.query });
    const changes = deps.changes;
    if (!changes) return void res.json({ blocks: bans.list() });
    if (since === undefined) {
      const version = changes.version();
      return void res.json({ blocks: bans.list(), version });
    }
    res.json(changes.changesSince(since));
  });

  router.post('/v1/blocks', jsonBody(deps.maxBodyBytes), async (req, res) => {
    const body = parseInput(blockBodySchema, requireBody(req));
    const target = body.ip ?? body.cidr ?? '';
    const before = activeCidrs(bans.list(), Date.now());
    const record = await bans.block({
      cidr: target,
      durationSeconds: body.durationSeconds,
      reason: body.reason,
      source: 'api',
      ...(body.policy === undefined ? {} : { policy: body.policy }),
    });
    // Compare with what the service answered: it may canonicalise the target.
    const existed = before.has(canonicalCidr(record.cidr) ?? record.cidr);
    logger.info(
      { cidr: record.cidr, durationSeconds: record.durationSeconds, policy: record.policy, existed },
      'ban requested through the API',
    );
    res.status(existed ? 200 : 201).json(record);
  });

  // Bulk bans (a controller re-pushing its BlockEvents, or an import): one store
  // write and one firewall transaction for the whole batch. Each item is
  // validated like POST /v1/blocks; any invalid item rejects the whole body.
  router.post('/v1/blocks/batch', jsonBody(Math.max(deps.maxBodyBytes, MAX_BATCH_BLOCKS * 256)), async (req, res) => {
    const body = parseInput(blockBatchBodySchema, requireBody(req));
    const { results, applied } = await bans.blockMany(
      body.blocks.map((b) => {
        const request: BlockRequest = { cidr: b.ip ?? b.cidr ?? '', durationSeconds: b.durationSeconds, reason: b.reason, source: 'api' };
        if (b.policy !== undefined) request.policy = b.policy; // no spread per item: batches hold 10,000
        return request;
      }),
    );
    // The answer (about 1 MB for 10,000 bans) is serialised while the firewall
    // works; it is sent only once the bans are applied, or an error instead.
    const answer = JSON.stringify({ results });
    await applied;
    const refused = results.filter((r) => !r.ok).length;
    logger.info({ requested: results.length, refused }, 'batch ban requested through the API');
    res.type('application/json').send(answer);
  });

  router.delete('/v1/blocks', async (req, res) => {
    parseInput(deleteAllQuerySchema, { ...req.query });
    const removed = await bans.unblockAll();
    logger.warn({ removed }, 'every ban removed through the API');
    res.json({ removed });
  });

  router.delete('/v1/blocks/:ip', async (req, res) => {
    const { ip } = parseInput(deleteParamsSchema, { ...req.params });
    const removed = await bans.unblock(ip);
    logger.info({ cidr: ip, removed }, 'unban requested through the API');
    res.json({ removed });
  });

  return router;
}
