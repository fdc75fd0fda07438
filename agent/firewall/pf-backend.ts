// pf backend (macOS). Everything lives in anchor "floodgate": its own table
// and one block rule, loaded with `pfctl -a floodgate -f -`. The main ruleset
// is never loaded or replaced; the user adds `anchor "floodgate"` to
// /etc/pf.conf once (checkAnchorReference() tells doctor whether they did).
// pf tables have no per-entry timeout, so expiry is the ban sweep's job while
// the agent runs. pf does keep when each address was added ("cleared"), so
// init() first has pf itself drop every address older than the longest ban
// (`pfctl -T expire`): a sweep at start that holds even when the ban store is
// gone, and the same command runs hourly from launchd
// (deploy/host/macos/dev.floodgate.pf-expire.plist) for when the agent does
// not come back at all.
//
// States of newly banned sources are killed so established connections do
// not outlive the block rule. pfctl -k takes one host or network per call, so
// the state table is read once per batch and only sources that hold states
// are killed, a few calls at a time: a 10,000-address batch of spoofed
// sources costs one `pfctl -s state`, not 10,000 processes.
//
// Verified by command plan only (test/firewall/pf-backend.test.ts runs a
// recording fake pfctl); there is no pf on the Linux test machines.

import { readFile } from 'node:fs/promises';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import { CidrMatcher } from '../../lib/cidr-match.js';
import { canonicalCidr } from '../../lib/cidr.js';
import { elementText, validateEntries, validCidr } from './entries.js';
import { type CommandExecutor, createExecutor, FirewallCommandError } from './exec.js';
import { PfSignatures } from './pf-signatures.js';
import type { BackendDescription, DropCounters, FirewallBackend, FirewallElement, FirewallEntry } from './types.js';

export const PF_ANCHOR = 'floodgate';
export const PF_TABLE = 'floodgate_blocked';
const BLOCK_RULE = `block drop in quick from <${PF_TABLE}> to any`;
/** Signature rules live in this sub-anchor (pf-signatures.ts), evaluated after the bans. */
const SIGNATURES_ANCHOR = 'anchor "signatures"';
/** The whole anchor ruleset. `persist` keeps the table when it is empty. */
export const PF_ANCHOR_RULES = `table <${PF_TABLE}> persist\n${BLOCK_RULE}\n${SIGNATURES_ANCHOR}\n`;
/** Addresses per pfctl -T add/delete call, far below ARG_MAX. */
const ADDRESSES_PER_CALL = 500;

/** pfctl -k calls running at once. */
const KILLS_AT_ONCE = 4;

export interface PfBackendOptions {
  exec?: CommandExecutor;
  /** Kill existing states of a newly banned source (`pfctl -k`); default true. */
  killStates?: boolean;
  /** The longest ban: init() has pf drop addresses added longer ago than this. Default MAX_BAN_SECONDS. */
  maxBanSeconds?: number;
}

export class PfBackend implements FirewallBackend {
  readonly name = 'pf' as const;
  readonly expiresEntries = false;
  private readonly exec: CommandExecutor;
  private readonly killStates: boolean;
  private readonly maxBanSeconds: number;
  readonly signatures: PfSignatures;

  constructor(options: PfBackendOptions = {}) {
    this.exec = options.exec ?? createExecutor();
    this.killStates = options.killStates ?? true;
    this.maxBanSeconds = Math.max(1, Math.ceil(options.maxBanSeconds ?? MAX_BAN_SECONDS));
    this.signatures = new PfSignatures(this.exec);
  }

  private table(args: string[], allowFailure = false) {
    return this.exec(['pfctl', '-a', PF_ANCHOR, '-t', PF_TABLE, ...args], { allowFailure });
  }

  async init(): Promise<void> {
    // Reloading the anchor could reset the table, so only load when our rules are missing
    // (the ban manager's reconcile, which runs right after init, puts the bans back).
    const { stdout } = await this.exec(['pfctl', '-a', PF_ANCHOR, '-s', 'rules']);
    if (!(stdout.includes(`from <${PF_TABLE}>`) && stdout.includes(SIGNATURES_ANCHOR))) {
      await this.exec(['pfctl', '-a', PF_ANCHOR, '-f', '-'], { input: PF_ANCHOR_RULES });
    }
    // pf's own clock: nothing of ours outlives the longest ban, whatever became of the ban store.
    await this.table(['-T', 'expire', String(this.maxBanSeconds)]);
  }

  async add(entries: readonly FirewallEntry[]): Promise<void> {
    // pf ignores timeoutSeconds: the ban manager's sweep removes expired entries.
    const addresses = validateEntries(entries, Number.MAX_SAFE_INTEGER).map((v) => elementText(v.cidr));
    for (let i = 0; i < addresses.length; i += ADDRESSES_PER_CALL) {
      await this.table(['-T', 'add', ...addresses.slice(i, i + ADDRESSES_PER_CALL)]);
    }
    if (this.killStates && addresses.length > 0) await this.killStatesOf(addresses);
  }

  /** Kill the states of those banned hosts/networks that hold any: one state-table read, then a few -k at a time. */
  private async killStatesOf(addresses: readonly string[]): Promise<void> {
    const states = await this.exec(['pfctl', '-s', 'state'], { allowFailure: true });
    // Without a state table to read, kill each as before rather than leave connections open.
    const targets = states.exitCode === 0 ? bannedWithStates(addresses, states.stdout) : addresses;
    for (let i = 0; i < targets.length; i += KILLS_AT_ONCE) {
      await Promise.all(targets.slice(i, i + KILLS_AT_ONCE).map((address) => this.exec(['pfctl', '-k', address])));
    }
  }

  async remove(cidrs: readonly string[]): Promise<void> {
    const addresses = cidrs.map((c) => elementText(validCidr(c)));
    for (let i = 0; i < addresses.length; i += ADDRESSES_PER_CALL) {
      // Deleting an absent address is not an error for pfctl ("0/1 addresses deleted").
      await this.table(['-T', 'delete', ...addresses.slice(i, i + ADDRESSES_PER_CALL)]);
    }
  }

  async list(): Promise<FirewallElement[]> {
    const result = await this.table(['-T', 'show'], true);
    if (result.exitCode !== 0) {
      if (/does not exist/i.test(result.stderr)) return [];
      throw new FirewallCommandError(['pfctl', '-a', PF_ANCHOR, '-t', PF_TABLE, '-T', 'show'], result.exitCode, result.stderr);
    }
    return result.stdout
      .split('\n')
      .map((line) => canonicalCidr(line.trim()))
      .filter((cidr): cidr is string => cidr !== undefined)
      .map((cidr) => ({ cidr }));
  }

  async counters(): Promise<DropCounters> {
    const { stdout } = await this.exec(['pfctl', '-a', PF_ANCHOR, '-v', '-s', 'rules']);
    return parsePfRuleCounters(stdout);
  }

  async teardown(): Promise<void> {
    await this.signatures.teardown();
    // Not "-F all": that would flush every state on the host, not just ours.
    await this.exec(['pfctl', '-a', PF_ANCHOR, '-F', 'rules']);
    const killed = await this.table(['-T', 'kill'], true);
    if (killed.exitCode !== 0 && !/does not exist/i.test(killed.stderr)) {
      throw new FirewallCommandError(['pfctl', '-a', PF_ANCHOR, '-t', PF_TABLE, '-T', 'kill'], killed.exitCode, killed.stderr);
    }
  }

  describe(): BackendDescription {
    return {
      name: this.name,
      objects: [`anchor "${PF_ANCHOR}"`, `table <${PF_TABLE}>`, `rule: ${BLOCK_RULE}`, `sub-anchor: ${SIGNATURES_ANCHOR}`],
      attachment: `anchor "${PF_ANCHOR}" (must be referenced from /etc/pf.conf)`,
      expiresEntries: false,
      notes: [
        'pf tables have no per-entry timeout; the ban sweep removes expired entries, and at start pf drops addresses older than the longest ban (pfctl -T expire)',
        'verified by command plan only',
      ],
    };
  }
}

/**
 * Every address in the lines of `pfctl -s state` ("ALL tcp 10.0.0.1:22 <-
 * 198.51.100.7:51234 ESTABLISHED:ESTABLISHED"; IPv6 ports in brackets,
 * "2001:db8::1[443]"; NAT adds a third address in parentheses).
 */
export function stateAddresses(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    for (const token of line.trim().split(/\s+/).slice(2)) {
      const bare = token.replace(/^\(/, '').replace(/\)$/, '');
      const v6 = /^([0-9A-Fa-f:.]+)\[\d+\]$/.exec(bare);
      const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(bare);
      const address = v6?.[1] ?? v4?.[1];
      if (address) out.add(address);
    }
  }
  return out;
}

/**
 * The banned hosts/networks (as written for pfctl: hosts bare, networks with
 * a prefix) that contain an address holding a state, in their order. Hosts
 * are looked up in the state addresses; only networks are matched against them.
 */
export function bannedWithStates(banned: readonly string[], stateText: string): string[] {
  const seen = new Set([...stateAddresses(stateText)].map((a) => canonicalCidr(a) ?? a));
  if (seen.size === 0) return [];
  return banned.filter((entry) => {
    if (!entry.includes('/')) return seen.has(canonicalCidr(entry) ?? entry);
    const network = new CidrMatcher([entry]);
    for (const address of seen) if (network.has(address)) return true;
    return false;
  });
}

/** Sum Packets/Bytes of our block rule(s) from `pfctl -a floodgate -v -s rules`. */
export function parsePfRuleCounters(text: string): DropCounters {
  const total = { packets: 0, bytes: 0 };
  let ours = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(' ') && line.trim() !== '') {
      ours = line.startsWith('block') && line.includes(`<${PF_TABLE}>`);
      continue;
    }
    if (!ours) continue;
    const packets = /Packets:\s*(\d+)/.exec(line);
    const bytes = /Bytes:\s*(\d+)/.exec(line);
    if (packets?.[1]) total.packets += Number(packets[1]);
    if (bytes?.[1]) total.bytes += Number(bytes[1]);
  }
  return total;
}

export interface AnchorCheck {
  ok: boolean;
  path: string;
  message: string;
}

/** Does pf.conf reference our anchor? pf only evaluates anchors the main ruleset names. */
export async function checkAnchorReference(path = '/etc/pf.conf'): Promise<AnchorCheck> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, path, message: `cannot read ${path}: ${(error as Error).message}` };
  }
  const referenced = text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .some((line) => /^anchor\s+"?floodgate"?(\s|$)/.test(line));
  return referenced
    ? { ok: true, path, message: `${path} references anchor "${PF_ANCHOR}"` }
    : { ok: false, path, message: `${path} has no 'anchor "${PF_ANCHOR}"' line; add it and run pfctl -f ${path}` };
}
