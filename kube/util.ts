// Small helpers shared by the Kubernetes plumbing: an abortable sleep, and
// reading the HTTP status out of the different error shapes an API call
// produces. Backoff is lib/backoff.ts.

import { setTimeout as delay } from 'node:timers/promises';

/** Longest delay setTimeout honours (longer ones fire after 1 ms!). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Clamp a delay for setTimeout. */
export function timerMs(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

/** Sleep ms, returning early (without throwing) when the signal aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(timerMs(ms), undefined, { signal });
  } catch {
    // aborted
  }
}

/**
 * HTTP status of a failed request or a watch ERROR Status object:
 * ApiException.code, Watch's error.statusCode, a Status' `code`.
 */
export function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

/** One-line description of anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = statusCodeOf(err);
    // ApiException's message carries the whole response (body, headers):
    // prefer the Status message of its body.
    const body = (err as { body?: unknown }).body;
    let status: unknown = body;
    if (typeof body === 'string') {
      try {
        status = JSON.parse(body);
      } catch {
        status = undefined;
      }
    }
    const statusMsg = (status as { message?: unknown } | undefined)?.message;
    if (code !== undefined && typeof statusMsg === 'string') return `HTTP ${code}: ${statusMsg}`.slice(0, 500);
    const msg = err.message.replace(/\s+/g, ' ').trim().slice(0, 500);
    return code !== undefined && !msg.includes(String(code)) ? `${msg} (HTTP ${code})` : msg;
  }
  if (typeof err === 'object' && err !== null) {
    const s = err as { message?: unknown; reason?: unknown; code?: unknown };
    if (typeof s.message === 'string') return `${s.message}${typeof s.code === 'number' ? ` (code ${s.code})` : ''}`;
  }
  return String(err);
}

/**
 * Resolve with the promise's value, or reject with a timeout error after ms,
 * or with an AbortError when the signal aborts. The original promise keeps
 * running (there is no way to cancel a client-node request from here); its
 * late outcome is ignored.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => finish(() => reject(abortError(what)));
    const timer = setTimeout(() => finish(() => reject(new Error(`${what} timed out after ${ms} ms`))), timerMs(ms));
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}

export function abortError(what: string): Error {
  const err = new Error(`${what} aborted`);
  err.name = 'AbortError';
  return err;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
