// The time rules every ban and mitigation rule shares: the CRDs, the agent's
// API and ban manager, and the controller all take them from here, so a
// 30-day limit or an expiry can never mean two things.

/** The longest any ban or rule lasts: 30 days (the CRDs' maximum, the agent API's, the controller's). */
export const MAX_BAN_SECONDS = 30 * 24 * 3600;

/** When something that started at `startMs` and lasts `durationSeconds` ends (ms since the epoch). */
export function expiry(startMs: number, durationSeconds: number): number {
  return startMs + durationSeconds * 1000;
}
