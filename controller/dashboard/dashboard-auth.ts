// Who may see and change things through the dashboard. The page itself (/)
// is served to anyone; every /api/* call but the sign-in endpoints needs the
// dashboard token, either
//   - as `Authorization: Bearer <token>` (curl, scripts: browsers never add it
//     on their own, so it cannot be forged cross-site), or
//   - as a session: POST /api/login with the token once sets an HttpOnly,
//     SameSite=Strict cookie; each write then also carries the session's CSRF
//     token in X-CSRF-Token and must come from the dashboard's own origin.
// Reads carry namespaces, attacker addresses, pod names and agent URLs that
// Kubernetes RBAC would not show to everyone who can reach the port. Without
// a token file the API answers 401 saying how to configure one. Wrong bearer
// tokens are rate-limited per client address and logged once a minute.
// The token itself never goes back to the browser, only the session's CSRF token.
import crypto from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { parseCookie, stringifySetCookie } from 'cookie';
import { rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { LogThrottle } from '../../lib/log-throttle.js';

export const SESSION_COOKIE = 'floodgate_session';
export const CSRF_HEADER = 'x-csrf-token';

/** The answer of every /api/* call when the controller has no dashboard token. */
export const NO_TOKEN_MESSAGE =
  'the dashboard API needs a token: start the controller with --dashboard-token-file <file> holding one (16+ characters; the Helm chart does this with dashboard.enabled=true); the page itself is served without one';

interface Session {
  csrf: string;
  expiresAt: number;
}

export interface DashboardAuthOptions {
  /** The dashboard token; undefined: the dashboard is read-only for everyone. */
  token?: string;
  sessionTtlMs?: number;
  /** Oldest sessions are dropped beyond this many. */
  maxSessions?: number;
  /** Failed logins allowed per client address per minute. */
  maxFailedLogins?: number;
  /** Wrong bearer tokens allowed per client address per minute (reads and writes). */
  maxFailedTokens?: number;
  /** For the (throttled) warning about wrong tokens. */
  logger?: Logger;
  now?: () => number;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const digest = (s: string) => crypto.createHash('sha256').update(s).digest();

export class DashboardAuth {
  private readonly sessions = new Map<string, Session>();
  private readonly tokenDigest?: Buffer;
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;
  private readonly logger?: Logger;
  private readonly failedTokenLog = new LogThrottle();
  readonly maxFailedLogins: number;
  readonly maxFailedTokens: number;

  constructor(opts: DashboardAuthOptions) {
    if (opts.token !== undefined && opts.token.trim().length < 16) throw new Error('dashboard token must be at least 16 characters');
    this.tokenDigest = opts.token === undefined ? undefined : digest(opts.token.trim());
    this.ttlMs = opts.sessionTtlMs ?? 12 * 3600_000;
    this.maxSessions = opts.maxSessions ?? 1000;
    this.maxFailedLogins = opts.maxFailedLogins ?? 5;
    this.maxFailedTokens = opts.maxFailedTokens ?? 10;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
  }

  get writable(): boolean {
    return this.tokenDigest !== undefined;
  }

  /** Constant-time comparison (of digests, so lengths never leak). */
  tokenMatches(candidate: unknown): boolean {
    if (!this.tokenDigest || typeof candidate !== 'string') return false;
    return crypto.timingSafeEqual(digest(candidate.trim()), this.tokenDigest);
  }

  /** A new session for a correct token: [session id, CSRF token]. */
  createSession(): [string, string] {
    const id = crypto.randomBytes(32).toString('base64url');
    const csrf = crypto.randomBytes(32).toString('base64url');
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, { csrf, expiresAt: this.now() + this.ttlMs });
    return [id, csrf];
  }

  session(req: Request): (Session & { id: string }) | undefined {
    const id = parseCookie(req.headers.cookie ?? '')[SESSION_COOKIE];
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return { id, ...s };
  }

  endSession(req: Request): void {
    const s = this.session(req);
    if (s) this.sessions.delete(s.id);
  }

  sessionCookie(id: string, secure: boolean): string {
    return stringifySetCookie({ name: SESSION_COOKIE, value: id, httpOnly: true, sameSite: 'strict', path: '/', secure, maxAge: Math.floor(this.ttlMs / 1000) });
  }

  clearCookie(secure: boolean): string {
    return stringifySetCookie({ name: SESSION_COOKIE, value: '', httpOnly: true, sameSite: 'strict', path: '/', secure, maxAge: 0 });
  }

  /**
   * The Authorization header's verdict: undefined when there is none, else
   * whether it holds the token. A wrong one is marked on the response (the
   * failed-token limiter counts it) and logged at most once a minute.
   */
  private bearer(req: Request, res: Response): 'none' | 'ok' | 'wrong' {
    const auth = req.headers.authorization;
    if (auth === undefined) return 'none';
    const m = /^Bearer (.+)$/.exec(auth);
    if (m && this.tokenMatches(m[1])) return 'ok';
    res.locals.authFailed = true;
    this.failedTokenLog.hit((suppressed) => this.logger?.warn({ remoteAddress: req.socket.remoteAddress, alsoRefused: suppressed }, 'dashboard: wrong bearer token'));
    return 'wrong';
  }

  /** Why this request may not read, or undefined when it may. */
  readRefusal(req: Request, res: Response): HttpError | undefined {
    if (!this.writable) return new HttpError(401, NO_TOKEN_MESSAGE);
    const bearer = this.bearer(req, res);
    if (bearer === 'ok') return undefined;
    if (bearer === 'wrong') return new HttpError(401, 'wrong dashboard token');
    // The session cookie is SameSite=Strict: another site's page never sends it.
    if (this.session(req)) return undefined;
    return new HttpError(401, 'sign in with the dashboard token (or send Authorization: Bearer <token>)');
  }

  /** Why this request may not write, or undefined when it may. */
  writeRefusal(req: Request, res: Response): HttpError | undefined {
    if (!this.writable) return new HttpError(401, NO_TOKEN_MESSAGE);
    const bearer = this.bearer(req, res);
    if (bearer === 'ok') return undefined;
    if (bearer === 'wrong') return new HttpError(401, 'wrong dashboard token');
    const s = this.session(req);
    if (!s) return new HttpError(401, 'sign in with the dashboard token to make changes');
    if (!sameOrigin(req)) return new HttpError(403, 'cross-site request refused');
    const csrf = req.headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !equalStrings(csrf, s.csrf)) return new HttpError(403, 'missing or wrong CSRF token');
    return undefined;
  }

  /** Middleware for every read route. */
  requireRead(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      const refusal = this.readRefusal(req, res);
      if (refusal) return void res.status(refusal.status).json({ error: refusal.message });
      next();
    };
  }

  /** Middleware for every mutating route. */
  requireWrite(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      const refusal = this.writeRefusal(req, res);
      if (refusal) return void res.status(refusal.status).json({ error: refusal.message });
      next();
    };
  }

  /**
   * Counts only requests whose bearer token was wrong, per client address;
   * beyond the limit every /api call from that address waits a minute (429),
   * the right token included, so guessing gains nothing.
   */
  failedTokenLimiter(): RequestHandler {
    return rateLimit({
      windowMs: 60_000,
      limit: this.maxFailedTokens,
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.locals.authFailed !== true,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      message: { error: 'too many wrong dashboard tokens from this address: wait a minute' },
    });
  }

  /** Counts only failed logins (successful ones are skipped), per client address. */
  loginLimiter(): RequestHandler {
    return rateLimit({
      windowMs: 60_000,
      limit: this.maxFailedLogins,
      skipSuccessfulRequests: true,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      message: { error: 'too many failed sign-ins: wait a minute' },
    });
  }
}

function equalStrings(a: string, b: string): boolean {
  return crypto.timingSafeEqual(digest(a), digest(b));
}

/**
 * The browser says where a request comes from: Sec-Fetch-Site (every current
 * browser) or else Origin, which must be this host. A request with neither is
 * not from a browser page, and the SameSite=Strict cookie already kept it
 * from being sent cross-site.
 */
export function sameOrigin(req: Request): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin';
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
