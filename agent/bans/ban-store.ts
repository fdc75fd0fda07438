// Persistent ban state: one JSON file in the agent's state dir, replaced
// atomically (write temp, fsync, rename, fsync dir) so a crash leaves either
// the old or the new file, never half of one. It is the source of truth the
// firewall is reconciled against after a restart.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { writeFileAtomic } from '../state/atomic-file.js';

export const banSourceSchema = z.enum(['auto', 'api', 'controller']);
export type BanSource = z.infer<typeof banSourceSchema>;

export const banRecordSchema = z.object({
  /** Canonical CIDR ("203.0.113.7/32"). */
  cidr: z.string(),
  family: z.union([z.literal(4), z.literal(6)]),
  reason: z.string(),
  /** Name of the detection/mitigation policy that asked for the ban. */
  policy: z.string(),
  source: banSourceSchema,
  createdAt: z.string(),
  expiresAt: z.string(),
  /** Bans of this CIDR within the escalation findtime, this one included. */
  offenceCount: z.number().int().min(1),
});
export type BanRecord = z.infer<typeof banRecordSchema>;

/**
 * Date.parse with a memo, for one pass over many records: the bans of a
 * batch share their createdAt and expiresAt texts, so 10,000 bans cost a
 * handful of parses. Use one per pass; the memo grows with distinct texts.
 */
export function isoTimeParser(): (iso: string) => number {
  const memo = new Map<string, number>();
  return (iso) => {
    let ms = memo.get(iso);
    if (ms === undefined) memo.set(iso, (ms = Date.parse(iso)));
    return ms;
  };
}

const storeFileSchema = z.object({
  version: z.literal(1),
  bans: z.array(banRecordSchema),
  /** CIDR → epoch-ms times it was banned, kept for the escalation findtime. */
  offences: z.record(z.string(), z.array(z.number())),
});

export interface BanStoreOptions {
  stateDir: string;
  fileName?: string;
  logger?: Logger;
}

export class BanStore {
  readonly path: string;
  private readonly stateDir: string;
  private readonly fileName: string;
  private readonly logger: Logger | undefined;
  private bans = new Map<string, BanRecord>();
  /**
   * CIDR → offence times. A Map, not an object keyed by CIDR: looking up a
   * new CIDR string in an object interns it first, which made the lookups a
   * sixth of a 10,000-ban batch's decisions. save() turns it into the file's
   * object, and the save runs while the firewall applies the batch.
   */
  private offences = new Map<string, number[]>();
  private saving: Promise<void> = Promise.resolve();
  /** What changed since when, for GET /v1/blocks?since= (see BanJournal). */
  readonly journal = new BanJournal();

  constructor(options: BanStoreOptions) {
    this.stateDir = options.stateDir;
    this.fileName = options.fileName ?? 'bans.json';
    this.path = join(this.stateDir, this.fileName);
    this.logger = options.logger;
  }

  /**
   * Reads the file (missing → empty). Temp files left by a crash are deleted.
   * A file that does not parse is moved aside as *.corrupt-<time> and the
   * store starts empty: detection re-bans active attackers, and a broken
   * file must not keep the agent from starting.
   */
  async load(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.stateDir)) {
      if (name.startsWith(`${this.fileName}.tmp-`)) await unlink(join(this.stateDir, name)).catch(() => undefined);
    }
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.reset();
      throw error;
    }
    let data: z.infer<typeof storeFileSchema>;
    try {
      data = storeFileSchema.parse(JSON.parse(text));
    } catch (error) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      await rename(this.path, aside);
      this.logger?.error({ err: error, movedTo: aside }, 'ban store unreadable; starting empty');
      return this.reset();
    }
    this.bans = new Map(data.bans.map((b) => [b.cidr, b]));
    this.offences = new Map(Object.entries(data.offences));
    this.journal.restart();
  }

  private reset(): void {
    this.bans = new Map();
    this.offences = new Map();
    this.journal.restart();
  }

  all(): BanRecord[] {
    return [...this.bans.values()];
  }

  /** The banned CIDRs, without copying the records. */
  cidrs(): IterableIterator<string> {
    return this.bans.keys();
  }

  get(cidr: string): BanRecord | undefined {
    return this.bans.get(cidr);
  }

  put(record: BanRecord): void {
    this.bans.set(record.cidr, record);
    this.journal.changed(record.cidr);
  }

  delete(cidr: string): boolean {
    const removed = this.bans.delete(cidr);
    if (removed) this.journal.removed(cidr);
    return removed;
  }

  get size(): number {
    return this.bans.size;
  }

  offenceTimes(cidr: string): number[] {
    return this.offences.get(cidr) ?? [];
  }

  setOffenceTimes(cidr: string, times: number[]): void {
    if (times.length === 0) this.offences.delete(cidr);
    else this.offences.set(cidr, times);
  }

  /** Drop offence history older than `before` (epoch ms). */
  pruneOffences(before: number): void {
    for (const [cidr, times] of this.offences) {
      // Runs before every batch: most histories are current, so leave those arrays alone.
      if (times.every((t) => t >= before)) continue;
      this.setOffenceTimes(cidr, times.filter((t) => t >= before));
    }
  }

  /** Atomically replace the file with the current state. Saves never interleave. */
  save(): Promise<void> {
    // Compact: with 10,000 bans the file is a few MB, and indentation alone is a fifth of it.
    const offences: Record<string, number[]> = Object.create(null) as Record<string, number[]>;
    for (const [cidr, times] of this.offences) offences[cidr] = times;
    const snapshot = JSON.stringify({ version: 1, bans: this.all(), offences } satisfies z.infer<typeof storeFileSchema>);
    const next = this.saving.then(() => this.write(snapshot));
    this.saving = next.catch(() => undefined);
    return next;
  }

  private write(text: string): Promise<void> {
    return writeFileAtomic(this.path, text);
  }
}

/**
 * A change counter over the store: every put and delete takes the next
 * version, and the journal remembers the last version of each banned CIDR
 * and of recently removed ones, so that a reader holding version v can be
 * told exactly what changed after v. Versions belong to an epoch (one per
 * process and load): a reader from another epoch, or from before the oldest
 * removal still remembered, has to read everything again.
 */
export class BanJournal {
  readonly epoch = randomBytes(4).toString('hex');
  private version = 0;
  /** Changes at or below this version may be forgotten. */
  private floor = 0;
  /** CIDR → version of its last put, oldest first. */
  private readonly puts = new Map<string, number>();
  /** CIDR → version of its removal, oldest first. */
  private readonly removals = new Map<string, number>();

  constructor(private readonly maxRemovals = 50_000) {}

  get current(): number {
    return this.version;
  }

  /** Everything changed (a load): readers start over. */
  restart(): void {
    this.version++;
    this.floor = this.version;
    this.puts.clear();
    this.removals.clear();
  }

  changed(cidr: string): void {
    const v = ++this.version;
    this.puts.delete(cidr);
    this.puts.set(cidr, v);
    this.removals.delete(cidr);
  }

  removed(cidr: string): void {
    const v = ++this.version;
    this.puts.delete(cidr);
    this.removals.delete(cidr);
    this.removals.set(cidr, v);
    if (this.removals.size > this.maxRemovals) {
      const [oldest, at] = this.removals.entries().next().value as [string, number];
      this.removals.delete(oldest);
      this.floor = Math.max(this.floor, at);
    }
  }

  /** CIDRs put and removed after `since`, or undefined when that is no longer known (read everything). */
  since(since: number): { changed: string[]; removed: string[] } | undefined {
    if (since < this.floor || since > this.version) return undefined;
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [cidr, v] of this.puts) if (v > since) changed.push(cidr);
    for (const [cidr, v] of this.removals) if (v > since) removed.push(cidr);
    return { changed, removed };
  }
}
