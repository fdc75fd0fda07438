// Signature rules (docs/mitigation.md): list with counters, add or extend one,
// remove one with its helpers, and a policy's settings for the agent's own
// verdicts. Refusals are 4xx with one line: 403 never-block or not a
// protected address, 422 unsafe or unsupported here, 429 over a cap.
import { Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { policyNameSchema, signatureIdSchema, signaturePolicySettingsSchema, signatureRequestSchema } from '../../api/agent/v1/requests.js';
import type { SignatureService } from '../signatures/signature-service-port.js';
import { ApiError } from './errors.js';
import { jsonBody, requireBody } from './json-body.js';
import { parseInput } from './parse-input.js';

const REFUSAL_STATUS = { never_block: 403, not_protected: 403, unsafe: 422, unsupported: 422, max_rules: 429, invalid: 400 } as const;

export function signatureRoutes(deps: { signatures: SignatureService; logger: Logger; maxBodyBytes: number }): Router {
  const { signatures, logger } = deps;
  const router = Router();

  router.get('/v1/signatures', (_req, res) => {
    res.json({ signatures: signatures.list(), epoch: signatures.epoch, policies: signatures.policies() });
  });

  router.post('/v1/signatures', jsonBody(deps.maxBodyBytes), async (req, res) => {
    const body = parseInput(signatureRequestSchema, requireBody(req));
    const [outcome] = await signatures.applySignatures([{ ...body, source: 'api' }]);
    if (!outcome) throw new ApiError(500, 'no outcome');
    if (!outcome.ok) throw new ApiError(REFUSAL_STATUS[outcome.code], outcome.error);
    logger.info({ id: outcome.rule.id, rule: outcome.rule.match.text, action: outcome.action, policy: body.policy }, 'signature rule requested through the API');
    res.status(outcome.action === 'added' ? 201 : 200).json(outcome);
  });

  router.delete('/v1/signatures/:id', async (req, res) => {
    const { id } = parseInput(z.strictObject({ id: signatureIdSchema }), { ...req.params });
    const removed = await signatures.remove(id);
    logger.info({ id, removed }, 'signature rule removal requested through the API');
    res.json({ removed });
  });

  router.put('/v1/signatures/policies/:name', jsonBody(deps.maxBodyBytes), async (req, res) => {
    const { name } = parseInput(z.strictObject({ name: policyNameSchema }), { ...req.params });
    const settings = parseInput(signaturePolicySettingsSchema, requireBody(req));
    res.json(await signatures.setPolicy(name, settings));
  });

  return router;
}
