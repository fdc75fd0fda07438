// Persistent signature rules and the policies' settings: one JSON file in
// the agent's state dir (signatures.json), replaced atomically like the ban
// store. After a restart the manager re-applies what it holds until each
// rule's expiry. The signature manager is its only writer.

import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { signatureActionSchema, signatureMatchSchema } from '../../api/signature-rule.js';
import { attackVectorSchema, signaturePolicySettingsSchema } from '../../api/agent/v1/requests.js';
import type { SignaturePolicySettings } from '../../api/agent/v1/types.js';
import { tempPrefix, writeFileAtomic } from '../state/atomic-file.js';

export const storedSignatureSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  match: signatureMatchSchema,
  action: signatureActionSchema,
  vector: attackVectorSchema.optional(),
  label: z.string().max(200).optional(),
  reason: z.string().max(1000),
  policy: z.string().max(253).optional(),
  source: z.enum(['auto', 'api', 'controller']),
  createdAt: z.string(),
  expiresAt: z.string(),
});
export type StoredSignature = z.infer<typeof storedSignatureSchema>;

const fileSchema = z.object({
  version: z.literal(1),
  signatures: z.array(storedSignatureSchema),
  policies: z.record(z.string(), signaturePolicySettingsSchema),
});

export class SignatureStore {
  readonly path: string;
  private rules = new Map<string, StoredSignature>();
  private settings = new Map<string, SignaturePolicySettings>();
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly stateDir: string,
    private readonly logger?: Logger,
    fileName = 'signatures.json',
  ) {
    this.path = join(stateDir, fileName);
  }

  /** Missing file: empty. A file that does not parse is moved aside (*.corrupt-<time>) and the store starts empty. */
  async load(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const base = this.path.slice(this.stateDir.length + 1);
    for (const name of await readdir(this.stateDir)) {
      if (name.startsWith(tempPrefix(base))) await unlink(join(this.stateDir, name)).catch(() => undefined);
    }
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const data = fileSchema.parse(JSON.parse(text));
      this.rules = new Map(data.signatures.map((r) => [r.id, r]));
      this.settings = new Map(Object.entries(data.policies));
    } catch (error) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      await rename(this.path, aside);
      this.logger?.error({ err: error, movedTo: aside }, 'signature store unreadable; starting empty');
    }
  }

  all(): StoredSignature[] {
    return [...this.rules.values()];
  }

  get(id: string): StoredSignature | undefined {
    return this.rules.get(id);
  }

  put(rule: StoredSignature): void {
    this.rules.set(rule.id, rule);
  }

  delete(id: string): boolean {
    return this.rules.delete(id);
  }

  /** The whole rule set, for a rollback. */
  snapshot(): Map<string, StoredSignature> {
    return new Map(this.rules);
  }

  restore(snapshot: Map<string, StoredSignature>): void {
    this.rules = new Map(snapshot);
  }

  get size(): number {
    return this.rules.size;
  }

  policy(name: string): SignaturePolicySettings | undefined {
    return this.settings.get(name);
  }

  policies(): Record<string, SignaturePolicySettings> {
    return Object.fromEntries(this.settings);
  }

  setPolicy(name: string, settings: SignaturePolicySettings): void {
    this.settings.set(name, settings);
  }

  /** Atomically replace the file; saves never interleave. */
  save(): Promise<void> {
    const text = JSON.stringify({ version: 1, signatures: this.all(), policies: this.policies() } satisfies z.infer<typeof fileSchema>);
    const next = this.saving.then(() => writeFileAtomic(this.path, text));
    this.saving = next.catch(() => undefined);
    return next;
  }
}
