// pf backend (macOS). Everything lives in anchor "floodgate": its own table
// and one block rule, loaded with `pfctl -a floodgate -f -`. The main ruleset
// is never loaded or replaced; the user adds `anchor "floodgate"` to
// /etc/pf.conf once (checkAnchorReference() tells doctor whether they did).
// pf tables have no per-entry timeout, so expiry is the ban sweep's job.
//
// Verified by command plan only (test/firewall/pf-backend.test.ts runs a
// recording fake pfctl); there is no pf on the Linux test machines.

import { readFile } from 'node:fs/promises';
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

export interface PfBackendOptions {
  exec?: CommandExecutor;
  /** Kill existing states of a newly banned source (`pfctl -k`); default true. */
  killStates?: boolean;
}

export class PfBackend implements FirewallBackend {
  readonly name = 'pf' as const;
  readonly expiresEntries = false;
  private readonly exec: CommandExecutor;
  private readonly killStates: boolean;
  readonly signatures: PfSignatures;

  constructor(options: PfBackendOptions = {}) {
    this.exec = options.exec ?? createExecutor();
    this.killStates = options.killStates ?? true;
    this.signatures = new PfSignatures(this.exec);
  }

  private table(args: string[], allowFailure = false) {
    return this.exec(['pfctl', '-a', PF_ANCHOR, '-t', PF_TABLE, ...args], { allowFailure });
  }

  async init(): Promise<void> {
    // Reloading the anchor could reset the table, so only load when our rules are missing
    // (the ban manager's reconcile, which runs right after init, puts the bans back).
    const { stdout } = await this.exec(['pfctl', '-a', PF_ANCHOR, '-s', 'rules']);
    if (stdout.includes(`from <${PF_TABLE}>`) && stdout.includes(SIGNATURES_ANCHOR)) return;
    await this.exec(['pfctl', '-a', PF_ANCHOR, '-f', '-'], { input: PF_ANCHOR_RULES });
  }

  async add(entries: readonly FirewallEntry[]): Promise<void> {
    // pf ignores timeoutSeconds: the ban manager's sweep removes expired entries.
    const addresses = validateEntries(entries, Number.MAX_SAFE_INTEGER).map((v) => elementText(v.cidr));
    for (let i = 0; i < addresses.length; i += ADDRESSES_PER_CALL) {
      await this.table(['-T', 'add', ...addresses.slice(i, i + ADDRESSES_PER_CALL)]);
    }
    if (!this.killStates) return;
    // Established connections would outlive the block rule; pfctl -k takes one host/network per call.
    for (const address of addresses) await this.exec(['pfctl', '-k', address]);
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
      notes: ['pf tables have no per-entry timeout; the ban sweep removes expired entries', 'verified by command plan only'],
    };
  }
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
