// Mutual TLS: with a client CA configured, every request but OPEN_PATHS must
// come over a connection whose client certificate chains to that CA (the TLS
// server asks for one and records whether it verified) and, when names are
// configured, whose subject CN is one of them. The bearer token is still
// checked after this: a stolen token is useless without the controller's
// client key, and the client key without the token.
//
// The handshake does not fail without a certificate (rejectUnauthorized is
// off in server.ts) so that a kubelet's liveness probe of /healthz, which has
// no client certificate, still gets its answer; everything else gets a 403.
import type { TLSSocket } from 'node:tls';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { LogThrottle } from '../../lib/log-throttle.js';
import { OPEN_PATHS } from './auth.js';
import { sendError } from './errors.js';

export interface ClientCertRule {
  /** Subject CNs a client certificate may carry; empty or absent: any the client CA signed for client use. */
  names?: readonly string[];
}

export function requireClientCert(rule: ClientCertRule, logger: Logger): RequestHandler {
  const names = new Set(rule.names ?? []);
  const throttle = new LogThrottle();
  const refuse = (req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1], why: string, message: string) => {
    throttle.hit((suppressed) => logger.warn({ remoteAddress: req.socket.remoteAddress, why, alsoRefused: suppressed }, 'agent API: client certificate refused'));
    res.locals.securityLogged = true;
    sendError(res, 403, message);
  };
  return (req, res, next) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && OPEN_PATHS.has(req.path)) {
      next();
      return;
    }
    const socket = req.socket as TLSSocket;
    if (!socket.encrypted) {
      refuse(req, res, 'plain HTTP', 'client certificate required: this agent is served over HTTPS with mutual TLS');
      return;
    }
    if (!socket.authorized) {
      const why = socket.authorizationError ? String(socket.authorizationError) : 'none presented';
      refuse(req, res, why, `client certificate required (signed by the agent's client CA): ${why}`);
      return;
    }
    if (names.size > 0) {
      const cn = socket.getPeerCertificate().subject?.CN;
      const presented = Array.isArray(cn) ? cn.join(',') : (cn ?? '');
      if (!names.has(presented)) {
        refuse(req, res, `CN ${presented}`, `client certificate "${presented}" is not allowed on this agent (allowed: ${[...names].join(', ')})`);
        return;
      }
    }
    next();
  };
}
