// The dashboard's HTTP side: the static page (plain ES modules and uPlot's
// dist files) and its JSON API. The page is open; every API read goes through
// DashboardAuth.requireRead (token or session), every write through
// requireWrite (token, or session + CSRF + same origin). Only Host names the
// dashboard is known by are answered (dashboard-host.ts: DNS rebinding).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { BlockEvent, DefensePolicy, SignatureRule } from '../../api/v1alpha1/index.js';
import { normalizeMatch, actionText } from '../../api/signature-rule.js';
import type { NamespacedName } from '../../kube/resource-client.js';
import { httpStatus } from '../../kube/resource-client.js';
import { DashboardAuth, HttpError, NO_TOKEN_MESSAGE } from './dashboard-auth.js';
import { allowedHostsOnly } from './dashboard-host.js';
import type { DashboardData } from './dashboard-data.js';
import { controlsMergePatch, loginSchema, objectNameSchema, oneLine, policyControlsSchema } from './dashboard-schemas.js';

export interface DashboardAppDeps {
  auth: DashboardAuth;
  data: DashboardData;
  listPolicies(): DefensePolicy[];
  listBlockEvents(): BlockEvent[];
  listSignatureRules(): SignatureRule[];
  patchPolicy(ref: NamespacedName, body: object): Promise<unknown>;
  deleteBlockEvent(ref: NamespacedName): Promise<void>;
  deleteSignatureRule(ref: NamespacedName): Promise<void>;
  logger: Logger;
  /** Host names (besides loopback names and IP addresses) the dashboard answers to: its Service's names, an Ingress host. */
  allowedHosts?: readonly string[];
}

/**
 * The page's files. tsc copies no non-TS files, so they are read from the
 * source tree: beside this module when run from source, or from
 * controller/dashboard/public under the package root when compiled to dist/.
 */
export function publicDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'public'), path.resolve(here, '../../../controller/dashboard/public')]) {
    if (fs.existsSync(path.join(dir, 'index.html'))) return dir;
  }
  throw new Error(`dashboard files (index.html) not found beside ${here}`);
}

/** uPlot's dist directory in node_modules: served as /vendor/uplot/, no CDN. */
export function uplotDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve('uplot'));
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new HttpError(400, oneLine(r.error));
  return r.data;
}

function ref(req: Request): NamespacedName {
  return { namespace: parse(objectNameSchema, req.params.namespace), name: parse(objectNameSchema, req.params.name) };
}

/** The API server's own message from a client-node ApiException (its body is a Status). */
export function apiServerMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  let status: { message?: unknown } | undefined;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body) as { message?: unknown };
    } catch {
      status = undefined;
    }
  } else if (body && typeof body === 'object') status = body as { message?: unknown };
  return typeof status?.message === 'string' ? status.message : (err as Error).message.split('\n')[0]!;
}

function policyView(p: DefensePolicy) {
  const s = p.spec;
  const cond = (type: string) => p.status?.conditions?.find((c) => c.type === type);
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    generation: p.metadata.generation,
    controls: {
      memoryThresholdPercent: s.trigger.memoryThresholdPercent,
      attackerShareThreshold: s.detection.attackerShareThreshold,
      windowSeconds: s.detection.windowSeconds,
      banDurationSeconds: s.mitigation.banDurationSeconds,
    },
    mode: s.mitigation.mode,
    memoryTrigger: p.spec.targetSelector !== undefined,
    ready: cond('Ready')?.status ?? 'Unknown',
    readyMessage: cond('Ready')?.message,
    agentsReachable: cond('AgentsReachable')?.status ?? 'Unknown',
    agentsMessage: cond('AgentsReachable')?.message,
    underAttack: cond('UnderAttack')?.status === 'True',
    activeBlocks: p.status?.activeBlocks ?? 0,
    activeSignatureRules: p.status?.activeSignatureRules ?? 0,
    signatures: s.mitigation.signatures,
    lastTrigger: p.status?.lastTrigger,
    lastAnalysis: p.status?.lastAnalysis,
  };
}

function blockView(b: BlockEvent, now: number) {
  const expiresAt = b.status?.expiresAt;
  return {
    namespace: b.metadata.namespace,
    name: b.metadata.name,
    ip: b.spec.ip,
    policy: b.spec.policyRef?.name,
    phase: b.status?.phase ?? 'Pending',
    reason: b.spec.reason,
    evidence: b.spec.evidence,
    durationSeconds: b.spec.durationSeconds,
    blockedAt: b.status?.blockedAt,
    expiresAt,
    secondsLeft: expiresAt ? Math.max(0, Math.round((Date.parse(expiresAt) - now) / 1000)) : undefined,
    offenceCount: b.status?.offenceCount,
    backend: b.status?.backend,
    deleting: b.metadata.deletionTimestamp !== undefined,
  };
}

function signatureRuleView(r: SignatureRule, now: number) {
  const expiresAt = r.status?.expiresAt;
  return {
    namespace: r.metadata.namespace,
    name: r.metadata.name,
    victim: r.spec.signature.destination,
    vector: r.spec.vector,
    label: r.spec.label,
    rule: r.status?.rule ?? `${normalizeMatch(r.spec.signature).text}: ${actionText(r.spec.action)}`,
    applied: r.status?.applied,
    policy: r.spec.policyRef?.name,
    phase: r.status?.phase ?? 'Pending',
    reason: r.spec.reason,
    packetsDropped: r.status?.packetsDropped ?? 0,
    dropRatePps: r.status?.dropRatePps ?? 0,
    agents: r.status?.agentsHolding,
    expiresAt,
    secondsLeft: expiresAt ? Math.max(0, Math.round((Date.parse(expiresAt) - now) / 1000)) : undefined,
    message: r.status?.message,
    deleting: r.metadata.deletionTimestamp !== undefined,
  };
}

/** A delete of an object through the API server; its 4xx message goes back as written. */
async function deleteObject(del: () => Promise<void>): Promise<void> {
  try {
    await del();
  } catch (err) {
    const code = httpStatus(err);
    if (code !== undefined && code >= 400 && code < 500) throw new HttpError(code, apiServerMessage(err));
    throw err;
  }
}

export function createDashboardApp(deps: DashboardAppDeps): express.Application {
  const { auth, data, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Behind kubectl port-forward or a proxy the client address is the proxy's; rate limits key on what we see.
  app.set('trust proxy', false);

  app.use(allowedHostsOnly(deps.allowedHosts ?? [], logger));
  app.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  });

  const api = express.Router();
  api.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  // Guessing tokens: a few wrong ones per minute per address, then nothing for a minute.
  api.use(auth.failedTokenLimiter());
  // No token configured: every API call says how to configure one.
  api.use((_req, res, next) => {
    if (!auth.writable) return void res.status(401).json({ error: NO_TOKEN_MESSAGE });
    next();
  });
  api.use(express.json({ limit: '16kb' }));

  const secure = (req: Request) => req.secure;
  const read = auth.requireRead();

  // Open (the page needs it before signing in): whether this browser is signed in.
  api.get('/session', (req, res) => {
    const s = auth.session(req);
    res.json({ writable: auth.writable, signedIn: s !== undefined, csrfToken: s?.csrf });
  });

  api.post('/login', auth.loginLimiter(), (req, res) => {
    const body = parse(loginSchema, req.body);
    if (!auth.tokenMatches(body.token)) throw new HttpError(401, 'wrong dashboard token');
    const [id, csrf] = auth.createSession();
    res.set('Set-Cookie', auth.sessionCookie(id, secure(req)));
    res.json({ signedIn: true, csrfToken: csrf });
  });

  api.post('/logout', (req, res) => {
    auth.endSession(req);
    res.set('Set-Cookie', auth.clearCookie(secure(req)));
    res.json({ signedIn: false });
  });

  api.get('/policies', read, (_req, res) => {
    res.json({ policies: deps.listPolicies().map(policyView) });
  });

  api.patch('/policies/:namespace/:name', auth.requireWrite(), async (req, res) => {
    const target = ref(req);
    const controls = parse(policyControlsSchema, req.body);
    try {
      const updated = (await deps.patchPolicy(target, controlsMergePatch(controls))) as DefensePolicy;
      logger.info({ policy: `${target.namespace}/${target.name}`, controls }, 'dashboard: policy updated');
      res.json({ policy: policyView(updated) });
    } catch (err) {
      const code = httpStatus(err);
      // 422 Invalid: the CRD schema said no; its message goes back as written.
      if (code !== undefined && code >= 400 && code < 500) throw new HttpError(code, apiServerMessage(err));
      throw err;
    }
  });

  api.get('/blocks', read, (_req, res) => {
    const now = Date.now();
    const blocks = deps.listBlockEvents().map((b) => blockView(b, now));
    blocks.sort((a, b) => (a.phase === b.phase ? (a.secondsLeft ?? 0) - (b.secondsLeft ?? 0) : a.phase === 'Active' ? -1 : b.phase === 'Active' ? 1 : 0));
    res.json({ blocks });
  });

  api.delete('/blocks/:namespace/:name', auth.requireWrite(), async (req, res) => {
    const target = ref(req);
    await deleteObject(() => deps.deleteBlockEvent(target));
    logger.info({ blockEvent: `${target.namespace}/${target.name}` }, 'dashboard: unblock requested');
    res.json({ deleted: true });
  });

  // Signature rules: what each matches and does, and how much it drops (summed over its agents).
  api.get('/signature-rules', read, (_req, res) => {
    const now = Date.now();
    const order = (p: string) => (p === 'Active' ? 0 : p === 'Pending' ? 1 : 2);
    const rules = deps.listSignatureRules().map((r) => signatureRuleView(r, now));
    rules.sort((a, b) => order(a.phase) - order(b.phase) || b.dropRatePps - a.dropRatePps);
    res.json({ rules });
  });

  // Removing one deletes the SignatureRule: the controller then takes the rule off every agent.
  api.delete('/signature-rules/:namespace/:name', auth.requireWrite(), async (req, res) => {
    const target = ref(req);
    await deleteObject(() => deps.deleteSignatureRule(target));
    logger.info({ signatureRule: `${target.namespace}/${target.name}` }, 'dashboard: signature rule removal requested');
    res.json({ deleted: true });
  });

  api.get('/traffic', read, async (_req, res) => {
    res.json({ agents: await data.traffic(600) });
  });
  api.get('/top-talkers', read, async (_req, res) => {
    res.json({ agents: await data.topTalkers() });
  });
  api.get('/attacks', read, async (_req, res) => {
    res.json(await data.attacks());
  });
  api.get('/memory', read, async (_req, res) => {
    res.json({ pods: await data.memory() });
  });

  api.use((_req, res) => {
    res.status(404).json({ error: 'no such dashboard API' });
  });
  api.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    void next;
    if (err instanceof HttpError) return void res.status(err.status).json({ error: err.message });
    const status = (err as { status?: number; type?: string }).status;
    // express.json's own errors (bad JSON, too large) are the client's.
    if (typeof status === 'number' && status >= 400 && status < 500) return void res.status(status).json({ error: (err as Error).message });
    logger.error({ err }, 'dashboard API error');
    res.status(500).json({ error: 'internal error' });
  });

  app.use('/api', api);
  app.use('/vendor/uplot', express.static(uplotDir(), { index: false, fallthrough: false }));
  app.use(express.static(publicDir(), { index: 'index.html' }));
  return app;
}
