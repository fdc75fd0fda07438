// The one schema for capture options, shared by the CLI, the agent config and the API.
import net from 'node:net';
import { z } from 'zod';

/** An IP address or CIDR ("10.0.0.0/24", "2001:db8::/64"). */
export const ipOrCidr = z.string().max(64).refine((s) => {
  const [addr, len, extra] = s.split('/');
  // No zone ids (fe80::1%eth0): a firewall set cannot hold them.
  if (extra !== undefined || !addr || addr.includes('%')) return false;
  const fam = net.isIP(addr);
  if (fam === 0) return false;
  if (len === undefined) return true;
  if (!/^(0|[1-9]\d{0,2})$/.test(len)) return false;
  return Number(len) <= (fam === 4 ? 32 : 128);
}, { message: 'must be an IP address or CIDR such as 10.0.0.0/24 or 2001:db8::/64' });

export const captureOptionsSchema = z.strictObject({
  slotMs: z.number().int().min(100).max(60000).optional(),
  protect: z.array(ipOrCidr).max(4096).optional(),
  maxSources: z.number().int().min(64).max(1 << 24).optional(),
  maxDestinations: z.number().int().min(8).max(1 << 20).optional(),
  filter: z.string().max(4096).optional(),
  writeFile: z.string().min(1).max(4096).optional(),
  queueDepth: z.number().int().min(1).max(1024).optional(),
  /** Export at most this many sources per slot into JS (heaviest first, selected in C); the table itself keeps maxSources. */
  keepSources: z.number().int().min(1).max(1 << 24).optional(),
  /** Parse on the capture thread, update the tables on a second one (default); false: one thread does both. */
  pipeline: z.boolean().optional(),
});

export const liveCaptureOptionsSchema = captureOptionsSchema.extend({
  interface: z.string().min(1).max(255),
  promiscuous: z.boolean().optional(),
  snaplen: z.number().int().min(64).max(262144).optional(),
  bufferSize: z.number().int().min(0).max(1 << 30).optional(),
  timeoutMs: z.number().int().min(1).max(10000).optional(),
});

/** First issue of a zod error as one line: "slotMs: Too small: expected number to be >=100". */
export function oneLineZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid input';
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  return `${where}${issue.message}`;
}
