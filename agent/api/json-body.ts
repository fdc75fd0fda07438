// JSON body parsing, mounted per route (after authentication, so an
// unauthenticated client cannot make us read a body) and only where a body
// is expected. A body that is not JSON is refused instead of silently ignored:
// a form-encoded trigger-defense must not run with the defaults.

import express, { type Request, type RequestHandler } from 'express';
import { ApiError } from './errors.js';

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function jsonBody(maxBytes: number): RequestHandler {
  const parse = express.json({ limit: maxBytes, strict: true, type: 'application/json' });
  return (req, res, next) => {
    if (hasBody(req) && !req.is('application/json')) {
      next(new ApiError(415, 'Content-Type must be application/json'));
      return;
    }
    parse(req, res, next);
  };
}

/** The parsed body; `undefined` when the request had none. */
export function bodyOf(req: Request): unknown {
  return req.body as unknown;
}

export function requireBody(req: Request): unknown {
  const body = bodyOf(req);
  if (body === undefined) throw new ApiError(400, 'request body must be a JSON object');
  return body;
}

/** Methods that change state and may carry a body; DELETE carries none and is never CORS-simple. */
const BODY_WRITES: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Every POST/PUT/PATCH must say Content-Type: application/json, body or not.
 * A form or text/plain POST is a CORS-simple request that any web page can
 * send to the agent without asking; one that declares JSON is not. So a bare
 * `curl -X POST .../trigger-defense` is refused (415) too: send the header.
 */
export const requireJsonOnWrites: RequestHandler = (req, _res, next) => {
  if (!BODY_WRITES.has(req.method)) return void next();
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return void next(new ApiError(415, 'Content-Type must be application/json (also for a request without a body)'));
  next();
};
