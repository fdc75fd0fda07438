// The HTTP side of the contract's request schemas (api/agent/v1/requests.ts):
// a body or query that does not parse is a 400 with its first issue on one line.
import type { z } from 'zod';
import { oneLineZodError } from '../../native/lib/capture-options.js';
import { ApiError } from './errors.js';

/** Parse or throw a 400 whose message is the first issue on one line. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ApiError(400, oneLineZodError(parsed.error));
  return parsed.data;
}
