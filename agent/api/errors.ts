// Every failure leaves the API as `{ error: "<one line>" }` with a 4xx/5xx
// status: no HTML error pages, no stack traces, no echo of unbounded input.

import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { BanRefusedError } from '../bans/ban-service-port.js';

/** A failure the handler already knows the status of. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const MAX_MESSAGE_CHARS = 300;

/** Messages can quote input (zod names unknown keys): keep them one bounded line. */
export function oneLine(message: string): string {
  const flat = message.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS - 1)}…` : flat || 'error';
}

export function sendError(res: Response, status: number, message: string, headers: Record<string, string> = {}): void {
  res.status(status).set(headers).json({ error: oneLine(message) });
}

const BAN_REFUSAL_STATUS: Record<BanRefusedError['code'], number> = {
  never_block: 403,
  max_active_bans: 429,
  ban_rate: 429,
  invalid: 400,
};

// body-parser errors carry a `type`; these are the ones a client can cause.
const BODY_ERROR_MESSAGES: Record<string, string> = {
  'entity.parse.failed': 'request body is not valid JSON',
  'encoding.unsupported': 'unsupported Content-Encoding',
  'charset.unsupported': 'unsupported charset: send UTF-8 JSON',
  'request.size.invalid': 'request body length does not match Content-Length',
  'request.aborted': 'request aborted',
};

interface BodyParserError {
  type?: unknown;
  status?: unknown;
  limit?: unknown;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ApiError) {
      sendError(res, err.status, err.message, err.headers);
      return;
    }
    if (err instanceof BanRefusedError) {
      // A per-minute cap frees up within a minute; a full table does not on its own.
      const headers: Record<string, string> = err.code === 'ban_rate' ? { 'Retry-After': '60' } : {};
      sendError(res, BAN_REFUSAL_STATUS[err.code] ?? 400, err.message, headers);
      return;
    }
    const e = (typeof err === 'object' && err !== null ? err : {}) as BodyParserError;
    if (e.type === 'entity.too.large') {
      sendError(res, 413, `request body exceeds ${String(e.limit)} bytes`);
      return;
    }
    if (typeof e.type === 'string' && e.type in BODY_ERROR_MESSAGES) {
      sendError(res, typeof e.status === 'number' ? e.status : 400, BODY_ERROR_MESSAGES[e.type] ?? 'bad request');
      return;
    }
    // Express's own client errors, e.g. a path parameter that is not valid percent-encoding.
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      sendError(res, e.status, e.status === 400 ? 'malformed request' : 'request refused');
      return;
    }
    logger.error({ err, method: req.method, path: req.path.slice(0, 200) }, 'API request failed');
    sendError(res, 500, 'internal error (see the agent log)');
  };
}

export const notFound: RequestHandler = (_req, res) => {
  sendError(res, 404, 'no such route');
};
