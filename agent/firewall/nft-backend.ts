// nftables backend. Everything lives in `table inet floodgate`; other tables
// are never named in any command. Every change is one `nft -f -` transaction
// on stdin, so 10,000 bans cost one process and apply atomically.
//
// Measured on nft 1.0.6 / Linux 6.18 (see test/firewall/nft-backend.test.ts):
// - `add element` of an element that already exists succeeds and, on kernels
//   with element timeout updates, resets its timeout. Older kernels keep the
//   old timeout (or answer "File exists"), so init() probes which one we have
//   and falls back to delete+add of the elements that are present.
// - Adding 10,000 elements takes ~0.1 s, but deleting from an interval set
//   costs ~10 ms per element at 10,000 elements (userspace interval handling).
//   Expiry is therefore left to the kernel; only unbans delete.
// - An element that overlaps another (10.0.0.0/24 while 10.0.0.5 is present)
//   fails the whole transaction with "interval overlaps". The ban manager
//   only ever passes the minimal cover of its bans (no entry contains
//   another), so overlap can only come from elements added by hand, which
//   reconcile removes first.

import { formatCidr, parseCidr } from './cidr.js';
import { elementText, validateEntries, validCidr, validRange } from './entries.js';
import { type CommandExecutor, createExecutor } from './exec.js';
import type { BackendDescription, DropCounters, FirewallBackend, FirewallElement, FirewallEntry } from './types.js';

const TABLE = 'inet floodgate';
const SET4 = 'blocked4';
const SET6 = 'blocked6';
const PROBE_SET = 'refresh_probe';
/** 2^32 ms: accepted by every kernel we know; longer bans are re-added by reconcile. */
export const NFT_MAX_TIMEOUT_SECONDS = 4_294_967;
const ELEMENTS_PER_STATEMENT = 5000;

/**
 * Loaded by init(). `add` is a no-op for objects that exist, so sets keep
 * their elements and named counters keep their values; the chain is flushed
 * and refilled in the same transaction so rules never duplicate.
 * Priority raw (-300) in prerouting: before conntrack and before the
 * forward/input split, so traffic to pods and containers is dropped too.
 */
export const NFT_INIT_SCRIPT = `add table ${TABLE}
add set ${TABLE} ${SET4} { type ipv4_addr; flags interval, timeout; }
add set ${TABLE} ${SET6} { type ipv6_addr; flags interval, timeout; }
add counter ${TABLE} dropped4
add counter ${TABLE} dropped6
add chain ${TABLE} prerouting { type filter hook prerouting priority raw; policy accept; }
flush chain ${TABLE} prerouting
add rule ${TABLE} prerouting ip saddr @${SET4} counter name "dropped4" drop
add rule ${TABLE} prerouting ip6 saddr @${SET6} counter name "dropped6" drop
`;

/** How re-adding an existing element resets its timeout. */
export type NftRefreshMode = 'update' | 'replace';

export interface NftBackendOptions {
  exec?: CommandExecutor;
  /** Force a refresh mode instead of probing the kernel in init(). */
  refreshMode?: NftRefreshMode;
}

export class NftBackend implements FirewallBackend {
  readonly name = 'nft' as const;
  readonly expiresEntries = true;
  private readonly exec: CommandExecutor;
  private refreshMode: NftRefreshMode | undefined;

  constructor(options: NftBackendOptions = {}) {
    this.exec = options.exec ?? createExecutor();
    this.refreshMode = options.refreshMode;
  }

  private async run(script: string): Promise<void> {
    await this.exec(['nft', '-f', '-'], { input: script });
  }

  async init(): Promise<void> {
    await this.run(NFT_INIT_SCRIPT);
    this.refreshMode ??= await this.probeRefreshMode();
  }

  /** Does `add element` on an existing element reset its timeout here? Tried on a throw-away set. */
  private async probeRefreshMode(): Promise<NftRefreshMode> {
    const set = `${TABLE} ${PROBE_SET}`;
    await this.run(
      `add set ${set} { type ipv4_addr; flags interval, timeout; }\n` +
        `flush set ${set}\nadd element ${set} { 192.0.2.1 timeout 60s }\n`,
    );
    try {
      const again = await this.exec(['nft', '-f', '-'], {
        input: `add element ${set} { 192.0.2.1 timeout 3600s }\n`,
        allowFailure: true,
      });
      if (again.exitCode !== 0) return 'replace';
      const listed = await this.exec(['nft', '-j', 'list', 'set', 'inet', 'floodgate', PROBE_SET]);
      const timeout = parseSetElements(listed.stdout)[0]?.timeout;
      return timeout !== undefined && timeout > 60 ? 'update' : 'replace';
    } finally {
      await this.run(`delete set ${set}\n`);
    }
  }

  async add(entries: readonly FirewallEntry[]): Promise<void> {
    const valid = validateEntries(entries, NFT_MAX_TIMEOUT_SECONDS);
    if (valid.length === 0) return;
    const timed = valid.map((v) => ({ family: v.cidr.family, element: `${v.element} timeout ${v.timeoutSeconds}s` }));
    this.refreshMode ??= await this.probeRefreshMode();
    if (this.refreshMode === 'update') {
      await this.run(elementStatements('add', timed));
      return;
    }
    // Replace mode: delete what is present, then add, in one transaction.
    // Retried once: an element may expire between list() and the transaction.
    await this.retryOnce(async () => {
      const present = new Set((await this.list()).map((e) => e.cidr));
      const stale = valid.filter((v) => present.has(v.text)).map((v) => ({ family: v.cidr.family, element: v.element }));
      await this.run(elementStatements('delete', stale) + elementStatements('add', timed));
    });
  }

  async remove(cidrs: readonly string[]): Promise<void> {
    const wanted = new Map<string, { family: 4 | 6; element: string }>();
    for (const input of cidrs) {
      const range = validRange(input);
      if (range) {
        wanted.set(range.text, { family: range.family, element: range.text });
        continue;
      }
      const cidr = validCidr(input);
      wanted.set(formatCidr(cidr), { family: cidr.family, element: elementText(cidr) });
    }
    if (wanted.size === 0) return;
    // nft refuses to delete an absent element, so only name present ones.
    await this.retryOnce(async () => {
      const present = (await this.list()).flatMap((e) => wanted.get(e.cidr) ?? []);
      if (present.length === 0) return;
      await this.run(elementStatements('delete', present));
    });
  }

  /** list() then act is not atomic: an element can time out in between. One fresh try fixes that. */
  private async retryOnce(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch {
      await action();
    }
  }

  async list(): Promise<FirewallElement[]> {
    const { stdout } = await this.exec(['nft', '-j', 'list', 'table', 'inet', 'floodgate']);
    return [...parseSetElements(stdout, SET4), ...parseSetElements(stdout, SET6)].map((e) => ({
      cidr: e.cidr,
      ...(e.expires !== undefined ? { expiresInSeconds: e.expires } : {}),
    }));
  }

  async counters(): Promise<DropCounters> {
    const { stdout } = await this.exec(['nft', '-j', 'list', 'counters', 'table', 'inet', 'floodgate']);
    const total = { packets: 0, bytes: 0 };
    for (const item of nftItems(stdout)) {
      const counter = item['counter'];
      if (!isRecord(counter) || (counter['name'] !== 'dropped4' && counter['name'] !== 'dropped6')) continue;
      total.packets += Number(counter['packets'] ?? 0);
      total.bytes += Number(counter['bytes'] ?? 0);
    }
    return total;
  }

  async teardown(): Promise<void> {
    // "add" first makes the delete succeed when the table is already gone.
    await this.run(`add table ${TABLE}\ndelete table ${TABLE}\n`);
  }

  describe(): BackendDescription {
    return {
      name: this.name,
      objects: [`table ${TABLE}`, `set ${SET4}`, `set ${SET6}`, 'counter dropped4', 'counter dropped6', 'chain prerouting'],
      attachment: 'prerouting, priority raw (-300): before conntrack, covers forwarded pod traffic',
      expiresEntries: true,
      maxTimeoutSeconds: NFT_MAX_TIMEOUT_SECONDS,
      notes: [
        `timeout refresh: ${this.refreshMode ?? 'not probed yet'}`,
        'deleting from a large interval set is slow on nft 1.0.x (~10 ms per element at 10k elements); expiry is left to the kernel',
      ],
    };
  }
}

/** `add|delete element` statements for both sets, ELEMENTS_PER_STATEMENT elements each, in one pass. */
function elementStatements(verb: 'add' | 'delete', elements: readonly { family: 4 | 6; element: string }[]): string {
  const byFamily: Record<4 | 6, string[]> = { 4: [], 6: [] };
  for (const e of elements) byFamily[e.family].push(e.element);
  let script = '';
  for (const [family, set] of [[4, SET4], [6, SET6]] as const) {
    const mine = byFamily[family];
    for (let i = 0; i < mine.length; i += ELEMENTS_PER_STATEMENT) {
      script += `${verb} element ${TABLE} ${set} { ${mine.slice(i, i + ELEMENTS_PER_STATEMENT).join(', ')} }\n`;
    }
  }
  return script;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nftItems(json: string): Record<string, unknown>[] {
  const parsed: unknown = JSON.parse(json);
  if (!isRecord(parsed) || !Array.isArray(parsed['nftables'])) throw new Error('unexpected nft JSON output');
  return parsed['nftables'].filter(isRecord);
}

interface ParsedElement {
  cidr: string;
  timeout?: number;
  expires?: number;
}

/** Elements of one named set (or of the only set in the output) from `nft -j list ...`. */
export function parseSetElements(json: string, setName?: string): ParsedElement[] {
  const out: ParsedElement[] = [];
  for (const item of nftItems(json)) {
    const set = item['set'];
    if (!isRecord(set) || (setName !== undefined && set['name'] !== setName)) continue;
    const elems = Array.isArray(set['elem']) ? set['elem'] : [];
    for (const raw of elems) {
      // Elements with a timeout are wrapped as {"elem": {"val": ..., "timeout", "expires"}}.
      const wrapped = isRecord(raw) && isRecord(raw['elem']) ? raw['elem'] : undefined;
      const cidr = elementValue(wrapped ? wrapped['val'] : raw);
      if (cidr === undefined) continue;
      const parsed: ParsedElement = { cidr };
      if (wrapped && typeof wrapped['timeout'] === 'number') parsed.timeout = wrapped['timeout'];
      if (wrapped && typeof wrapped['expires'] === 'number') parsed.expires = wrapped['expires'];
      out.push(parsed);
    }
  }
  return out;
}

function elementValue(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const parsed = parseCidr(value);
    return parsed ? formatCidr(parsed) : undefined;
  }
  if (!isRecord(value)) return undefined;
  const prefix = value['prefix'];
  if (isRecord(prefix)) {
    const parsed = parseCidr(`${String(prefix['addr'])}/${String(prefix['len'])}`);
    return parsed ? formatCidr(parsed) : undefined;
  }
  const range = value['range'];
  if (Array.isArray(range) && range.length === 2) return validRange(`${String(range[0])}-${String(range[1])}`)?.text;
  return undefined;
}
