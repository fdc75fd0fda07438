// nftables backend. Everything lives in `table inet floodgate`; other tables
// are never named in any command. Every change is one `nft -f` transaction
// (the script on stdin, or in a private file past 64 KB), so 10,000 bans cost
// one process and apply atomically.
//
// Single addresses go into hash sets (`hosts4`, `hosts6`: flags timeout),
// networks into interval sets (`blocked4`, `blocked6`: flags interval,
// timeout), so CIDR bans really match while the common case, one attacking
// address, skips nft's interval bookkeeping: adding 10,000 addresses takes
// about half as long, deleting them hundreds of times less, and the packet
// path does a hash lookup.
//
// Measured on nft 1.0.6 / Linux 6.18 (see test/firewall/nft-backend.test.ts):
// - `add element` of an element that already exists succeeds and, on kernels
//   with element timeout updates, resets its timeout. Older kernels keep the
//   old timeout (or answer "File exists"), so init() probes which one we have
//   and falls back to delete+add of the elements that are present.
// - Adding 10,000 elements to an interval set takes ~0.1 s, but deleting from
//   one costs ~10 ms per element at 10,000 elements (userspace interval
//   handling); a hash set deletes 2,000 in ~0.2 s. Expiry is left to the
//   kernel; only unbans delete.
// - An element that overlaps another (10.0.0.0/24 while 10.0.0.0/25 is
//   present) fails the whole transaction with "interval overlaps". The ban
//   manager only ever passes the minimal cover of its bans (no entry contains
//   another), so overlap can only come from elements added by hand, which
//   reconcile removes first.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr, maxPrefix, parseCidr } from '../../lib/cidr.js';
import { elementText, validateEntries, validCidr, validRange } from './entries.js';
import { type CommandExecutor, createExecutor } from './exec.js';
import type { BackendDescription, DropCounters, FirewallBackend, FirewallElement, FirewallEntry } from './types.js';
import { NftSignatures } from './nft-signatures.js';
import { HOSTS4, HOSTS6, NETS4, NETS6, NFT_BAN_SETS, TABLE } from './nft-ban-sets.js';
import type { SignatureFirewall } from './signature-types.js';

const SETS = [HOSTS4, NETS4, HOSTS6, NETS6] as const;
type SetName = (typeof SETS)[number];
const PROBE_SETS = { interval: 'refresh_probe', hash: 'refresh_probe_hosts' } as const;
/** 2^32 ms: accepted by every kernel we know; longer bans are re-added by reconcile. */
export const NFT_MAX_TIMEOUT_SECONDS = 4_294_967;
const ELEMENTS_PER_STATEMENT = 5000;
/**
 * Scripts longer than this reach nft as a private temporary file instead of
 * on stdin. Stdin is a pipe the agent's event loop has to keep filling, and a
 * 10,000-element script is several times the pipe's buffer, so nft stalled
 * whenever the agent was busy meanwhile (serialising its store and the API
 * answer): 10,000 addresses took ~110 ms instead of ~60 ms. nft reads a file
 * by itself. Still one process and one transaction.
 */
const STDIN_MAX_CHARS = 64 * 1024;

/**
 * Loaded by init(). `add` is a no-op for objects that exist, so sets keep
 * their elements and named counters keep their values; the chain is flushed
 * and refilled in the same transaction so rules never duplicate.
 * Priority raw (-300) in prerouting: before conntrack and before the
 * forward/input split, so traffic to pods and containers is dropped too.
 */
export const NFT_INIT_SCRIPT = `add table ${TABLE}
${NFT_BAN_SETS}add counter ${TABLE} dropped4
add counter ${TABLE} dropped6
add chain ${TABLE} prerouting { type filter hook prerouting priority raw; policy accept; }
flush chain ${TABLE} prerouting
add rule ${TABLE} prerouting ip saddr @${HOSTS4} counter name "dropped4" drop
add rule ${TABLE} prerouting ip saddr @${NETS4} counter name "dropped4" drop
add rule ${TABLE} prerouting ip6 saddr @${HOSTS6} counter name "dropped6" drop
add rule ${TABLE} prerouting ip6 saddr @${NETS6} counter name "dropped6" drop
`;

/** The set an element belongs in: hosts (a full-length prefix) or networks. */
function setFor(family: 4 | 6, host: boolean): SetName {
  if (family === 4) return host ? HOSTS4 : NETS4;
  return host ? HOSTS6 : NETS6;
}

/** How re-adding an existing element resets its timeout. */
export type NftRefreshMode = 'update' | 'replace';

export interface NftBackendOptions {
  exec?: CommandExecutor;
  /** Where large scripts are written for nft to read (default: the OS temp directory). */
  scriptDir?: string;
  /** Force a refresh mode instead of probing the kernel in init(). */
  refreshMode?: NftRefreshMode;
}

export class NftBackend implements FirewallBackend {
  readonly name = 'nft' as const;
  readonly expiresEntries = true;
  private readonly exec: CommandExecutor;
  private refreshMode: NftRefreshMode | undefined;
  private readonly scriptDir: string;
  readonly signatures: SignatureFirewall;

  constructor(options: NftBackendOptions = {}) {
    this.exec = options.exec ?? createExecutor();
    this.scriptDir = options.scriptDir ?? tmpdir();
    this.refreshMode = options.refreshMode;
    this.signatures = new NftSignatures(this.exec);
  }

  private async run(script: string): Promise<void> {
    if (script.length <= STDIN_MAX_CHARS) {
      await this.exec(['nft', '-f', '-'], { input: script });
      return;
    }
    // Written synchronously (a millisecond for 10,000 elements) so nft starts
    // now: an await here would let the store and the API answer be serialised
    // first, and nft would wait for them instead of running beside them.
    let dir: string;
    try {
      dir = mkdtempSync(join(this.scriptDir, 'floodgate-nft-')); // 0700, a fresh random name
    } catch {
      // No writable temporary directory: stdin still works, only slower when the agent is busy.
      await this.exec(['nft', '-f', '-'], { input: script });
      return;
    }
    try {
      const file = join(dir, 'batch.nft');
      writeFileSync(file, script, { mode: 0o600, flag: 'wx' });
      await this.exec(['nft', '-f', file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async init(): Promise<void> {
    await this.run(NFT_INIT_SCRIPT);
    this.refreshMode ??= await this.probeRefreshMode();
  }

  /**
   * Does `add element` on an existing element reset its timeout here? Tried
   * on a throw-away set of each kind; both must, or we delete and re-add.
   */
  private async probeRefreshMode(): Promise<NftRefreshMode> {
    const interval = `${TABLE} ${PROBE_SETS.interval}`;
    const hash = `${TABLE} ${PROBE_SETS.hash}`;
    await this.run(
      `add set ${interval} { type ipv4_addr; flags interval, timeout; }\nadd set ${hash} { type ipv4_addr; flags timeout; }\n` +
        `flush set ${interval}\nflush set ${hash}\nadd element ${interval} { 192.0.2.1 timeout 60s }\nadd element ${hash} { 192.0.2.1 timeout 60s }\n`,
    );
    try {
      const again = await this.exec(['nft', '-f', '-'], {
        input: `add element ${interval} { 192.0.2.1 timeout 3600s }\nadd element ${hash} { 192.0.2.1 timeout 3600s }\n`,
        allowFailure: true,
      });
      if (again.exitCode !== 0) return 'replace';
      const listed = await this.exec(['nft', '-j', 'list', 'table', 'inet', 'floodgate']);
      const refreshed = Object.values(PROBE_SETS).every((name) => (parseSetElements(listed.stdout, name)[0]?.timeout ?? 0) > 60);
      return refreshed ? 'update' : 'replace';
    } finally {
      await this.run(`delete set ${interval}\ndelete set ${hash}\n`);
    }
  }

  async add(entries: readonly FirewallEntry[]): Promise<void> {
    const valid = validateEntries(entries, NFT_MAX_TIMEOUT_SECONDS);
    if (valid.length === 0) return;
    const timed = valid.map((v) => ({
      set: setFor(v.cidr.family, v.cidr.prefix === maxPrefix(v.cidr.family)),
      element: `${v.element} timeout ${v.timeoutSeconds}s`,
    }));
    this.refreshMode ??= await this.probeRefreshMode();
    if (this.refreshMode === 'update') {
      await this.run(elementStatements('add', timed));
      return;
    }
    // Replace mode: delete what is present (from whichever set holds it), then
    // add, in one transaction. Retried once: an element may expire between
    // the listing and the transaction.
    await this.retryOnce(async () => {
      const wanted = new Map(valid.map((v) => [v.text, v.element]));
      const stale = (await this.elements()).flatMap((e) => {
        const element = wanted.get(e.cidr);
        return element === undefined ? [] : [{ set: e.set, element }];
      });
      await this.run(elementStatements('delete', stale) + elementStatements('add', timed));
    });
  }

  async remove(cidrs: readonly string[]): Promise<void> {
    const wanted = new Map<string, string>();
    for (const input of cidrs) {
      const range = validRange(input);
      if (range) {
        wanted.set(range.text, range.text);
        continue;
      }
      const cidr = validCidr(input);
      wanted.set(formatCidr(cidr), elementText(cidr));
    }
    if (wanted.size === 0) return;
    // nft refuses to delete an absent element, so only name present ones, in the set that holds them.
    await this.retryOnce(async () => {
      const present = (await this.elements()).flatMap((e) => {
        const element = wanted.get(e.cidr);
        return element === undefined ? [] : [{ set: e.set, element }];
      });
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
    // An address can be in two sets for a while: an interval set, where an
    // earlier version put addresses, and its hash set once re-added. It
    // lasts as long as its longer entry.
    const byCidr = new Map<string, FirewallElement>();
    for (const e of await this.elements()) {
      const seen = byCidr.get(e.cidr);
      if (seen && (seen.expiresInSeconds === undefined || (e.expires !== undefined && e.expires <= seen.expiresInSeconds))) continue;
      byCidr.set(e.cidr, { cidr: e.cidr, ...(e.expires !== undefined ? { expiresInSeconds: e.expires } : {}) });
    }
    return [...byCidr.values()];
  }

  /** Every element of our four sets, with the set that holds it. */
  private async elements(): Promise<(ParsedElement & { set: SetName })[]> {
    const { stdout } = await this.exec(['nft', '-j', 'list', 'table', 'inet', 'floodgate']);
    return SETS.flatMap((set) => parseSetElements(stdout, set).map((e) => ({ ...e, set })));
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
      objects: [`table ${TABLE}`, ...SETS.map((set) => `set ${set}`), 'counter dropped4', 'counter dropped6', 'chain prerouting'],
      attachment: 'prerouting, priority raw (-300): before conntrack, covers forwarded pod traffic',
      expiresEntries: true,
      maxTimeoutSeconds: NFT_MAX_TIMEOUT_SECONDS,
      notes: [
        `timeout refresh: ${this.refreshMode ?? 'not probed yet'}`,
        `single addresses in hash sets (${HOSTS4}, ${HOSTS6}), networks in interval sets (${NETS4}, ${NETS6})`,
        'deleting from a large interval set is slow on nft 1.0.x (~10 ms per element at 10k elements); expiry is left to the kernel',
      ],
    };
  }
}

/** `add|delete element` statements per set, ELEMENTS_PER_STATEMENT elements each, in one pass. */
function elementStatements(verb: 'add' | 'delete', elements: readonly { set: SetName; element: string }[]): string {
  const bySet = new Map<SetName, string[]>(SETS.map((set) => [set, []]));
  for (const e of elements) bySet.get(e.set)?.push(e.element);
  let script = '';
  for (const [set, mine] of bySet) {
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
