// The flags of `floodgate attack http|syn|udp|icmp`, validated by one zod
// schema per kind before anything is resolved or sent. Commander hands over
// strings; the schemas coerce them and say in one line what is wrong.
import { z } from 'zod';

export const MAX_DURATION_SECONDS = 3600;

const duration = z.coerce
  .number({ error: 'must be a number of seconds' })
  .positive({ error: 'must be more than 0 seconds' })
  .max(MAX_DURATION_SECONDS, { error: `must be at most ${MAX_DURATION_SECONDS} seconds` });

const wholeNumber = (what: string, max: number) =>
  z.coerce
    .number({ error: `must be a whole number of ${what}, 1 to ${max}` })
    .int({ error: `must be a whole number of ${what}, 1 to ${max}` })
    .min(1, { error: `must be a whole number of ${what}, 1 to ${max}` })
    .max(max, { error: `must be a whole number of ${what}, 1 to ${max}` });

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** `Name: value`, as curl's -H. */
const header = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:\s*[^\r\n]*$/, { error: 'must be "Name: value"' });

export const httpFloodSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
    concurrency: wholeNumber('connections', 10_000).default(10),
    rate: wholeNumber('requests per second', 1_000_000).optional(),
    duration: duration.default(10),
    method: z
      .string()
      .transform((m) => m.toUpperCase())
      .pipe(z.enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(', ')}` }))
      .default('GET'),
    header: z.array(header).default([]),
    body: z.string().max(1_000_000, { error: 'must be at most 1 MB' }).optional(),
    timeout: duration.default(10),
    json: z.boolean().default(false),
    iOwnThisTarget: z.boolean().default(false),
  })
  .strict();

export type HttpFloodOptions = z.output<typeof httpFloodSchema>;

export const PACKET_KINDS = ['syn', 'udp', 'icmp'] as const;
export type PacketKind = (typeof PACKET_KINDS)[number];

export const packetFloodSchema = z
  .object({
    kind: z.enum(PACKET_KINDS),
    dest: z.string().min(1, { error: 'is required' }).max(253, { error: 'is too long' }),
    port: z.coerce
      .number({ error: 'must be a port number' })
      .int({ error: 'must be a port number 1-65535' })
      .min(1, { error: 'must be a port number 1-65535' })
      .max(65_535, { error: 'must be a port number 1-65535' })
      .optional(),
    duration: duration.default(10),
    rate: wholeNumber('packets per second', 1_000_000).optional(),
    flood: z.boolean().default(false),
    randSource: z.boolean().default(false),
    json: z.boolean().default(false),
    iOwnThisTarget: z.boolean().default(false),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.flood && o.rate !== undefined) ctx.addIssue({ code: 'custom', path: ['rate'], message: 'and --flood exclude each other: --flood sends as fast as possible' });
    if (o.kind === 'icmp' && o.port !== undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'does not apply to icmp' });
  })
  .transform((o) => ({
    ...o,
    // syn/udp need a port; icmp has none.
    port: o.kind === 'icmp' ? undefined : (o.port ?? 80),
    // Neither --rate nor --flood: a modest 1000 pps.
    rate: o.flood ? undefined : (o.rate ?? 1000),
  }));

export type PacketFloodOptions = z.output<typeof packetFloodSchema>;

const flagName = (key: PropertyKey | undefined) =>
  key === undefined ? 'options' : key === 'url' || key === 'dest' ? String(key) : `--${String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export class InvalidAttackOptions extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAttackOptions';
  }
}

/** Parse with a schema; the first problem becomes a one-line error naming the flag. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new InvalidAttackOptions(`unknown option ${issue.keys.map((k) => flagName(k)).join(', ')}`);
  const value = issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown> | undefined)?.[k], input);
    // JSON quoting keeps a value with a newline on one line.
  const shown = value === undefined || typeof value === 'boolean' ? '' : ` ${JSON.stringify(String(value))}`;
  throw new InvalidAttackOptions(`${flagName(issue.path[0])}${shown} ${issue.message}`);
}
