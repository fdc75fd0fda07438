// One log line per request, pino-http style ("request completed" with req,
// res and responseTime). Probe traffic that succeeds goes to debug so a
// kubelet polling every few seconds does not drown the log. The
// Authorization header is never logged.

import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { routeLabel } from './metrics.js';

const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);
const MAX_URL_CHARS = 200;

export function requestLog(logger: Logger): RequestHandler {
  let nextId = 1;
  return (req, res, next) => {
    const id = nextId++;
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const status = res.statusCode;
      const finished = res.writableFinished;
      // A refusal the guard already warned about (throttled: wrong tokens,
      // refused Hosts) is info here, so a flood of them is not two warnings each.
      const alreadyWarned = res.locals.securityLogged === true;
      const level =
        // An aborted request is the client hanging up (often mid window-analysis), not an agent fault.
        status >= 500 ? 'error' : alreadyWarned ? 'info' : !finished || status >= 400 ? 'warn' : PROBE_PATHS.has(req.path) ? 'debug' : 'info';
      const url = req.originalUrl.length > MAX_URL_CHARS ? `${req.originalUrl.slice(0, MAX_URL_CHARS)}…` : req.originalUrl;
      logger[level](
        {
          req: { id, method: req.method, url, remoteAddress: req.socket.remoteAddress },
          res: { statusCode: status },
          route: routeLabel(req),
          responseTime: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100,
        },
        finished ? 'request completed' : 'request aborted',
      );
    });
    next();
  };
}
