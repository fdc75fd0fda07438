// Who may change things through the dashboard. Reads are open (the page is
// behind `kubectl port-forward` or the cluster's network policy); every write
// needs the dashboard token, either
//   - as `Authorization: Bearer <token>` (curl, scripts: browsers never add it
//     on their own, so it cannot be forged cross-site), or
//   - as a session: POST /api/login with the token once sets an HttpOnly,
//     SameSite=Strict cookie; each write then also carries the session's CSRF
//     token in X-CSRF-Token and must come from the dashboard's own origin.
// The token itself never goes back to the browser, only the session's CSRF token.
import crypto from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { parseCookie, stringifySetCookie } from 'cookie';
import { rateLimit } from 'express-rate-limit';

export const SESSION_COOKIE = 'floodgate_session';
export const CSRF_HEADER = 'x-csrf-token';

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
  readonly maxFailedLogins: number;

  constructor(opts: DashboardAuthOptions) {
    if (opts.token !== undefined && opts.token.trim().length < 16) throw new Error('dashboard token must be at least 16 characters');
    this.tokenDigest = opts.token === undefined ? undefined : digest(opts.token.trim());
    this.ttlMs = opts.sessionTtlMs ?? 12 * 3600_000;
    this.maxSessions = opts.maxSessions ?? 1000;
    this.maxFailedLogins = opts.maxFailedLogins ?? 5;
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

  /** Why this request may not write, or undefined when it may. */
  writeRefusal(req: Request): HttpError | undefined {
    if (!this.writable) return new HttpError(403, 'the dashboard is read-only: the controller was started without --dashboard-token-file');
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer (.+)$/.exec(auth);
      return m && this.tokenMatches(m[1]) ? undefined : new HttpError(401, 'wrong dashboard token');
    }
    const s = this.session(req);
    if (!s) return new HttpError(401, 'sign in with the dashboard token to make changes');
    if (!sameOrigin(req)) return new HttpError(403, 'cross-site request refused');
    const csrf = req.headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !equalStrings(csrf, s.csrf)) return new HttpError(403, 'missing or wrong CSRF token');
    return undefined;
  }

  /** Middleware for every mutating route. */
  requireWrite(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      const refusal = this.writeRefusal(req);
      if (refusal) return void res.status(refusal.status).json({ error: refusal.message });
      next();
    };
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
