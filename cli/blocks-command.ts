// `floodgate blocks list|add|rm`: manage bans on a running agent; `list`
// shows its signature rules too, and `rm --signature <id>` removes one.
import type { Command } from 'commander';
import type { BanRecord, SignatureRecord } from '../api/agent/v1/types.js';
import type { AgentClient as AgentClientType, AgentClientOptions } from './agent-client.js';
import { usageError } from './cli-error.js';
import { positiveInt } from './number-options.js';

interface ClientFlags extends AgentClientOptions {
  json?: boolean;
}

/** The agent client, loaded on use: other commands (the controller) need none of the agent's config code. */
async function agentClient(flags: ClientFlags): Promise<AgentClientType> {
  const { AgentClient } = await import('./agent-client.js');
  return new AgentClient(flags);
}

function timeLeft(expiresAt: string): string {
  const s = Math.max(0, Math.round((Date.parse(expiresAt) - Date.now()) / 1000));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

export function renderBlocks(blocks: BanRecord[]): string {
  if (blocks.length === 0) return 'no active blocks';
  const rows = [['CIDR', 'EXPIRES IN', 'SOURCE', 'POLICY', 'OFFENCES', 'REASON']];
  for (const b of blocks) rows.push([b.cidr, timeLeft(b.expiresAt), b.source, b.policy ?? '-', String(b.offenceCount), b.reason]);
  return table(rows);
}

/** Signature rules: what each matches, what the firewall does, and how much it dropped. */
export function renderSignatures(rules: SignatureRecord[]): string {
  if (rules.length === 0) return 'no signature rules';
  const rows = [['ID', 'VICTIM', 'VECTOR', 'RULE', 'APPLIED', 'DROPPED', 'PPS', 'EXPIRES IN', 'SOURCE']];
  for (const r of rules) {
    rows.push([r.id, r.match.destination, r.vector ?? '-', r.match.text ?? '-', r.applied, String(r.packets), String(Math.round(r.packetsPerSecond)), timeLeft(r.expiresAt), `${r.source}${r.policy ? ` (${r.policy})` : ''}`]);
  }
  return table(rows);
}

export function registerBlocks(program: Command): void {
  const blocks = program.command('blocks').description('list, add and remove bans on a running agent');
  const common = (cmd: Command) =>
    cmd
      .option('--agent <url>', 'agent URL', process.env.FLOODGATE_AGENT ?? 'http://127.0.0.1:12345')
      .option('--token-file <path>', 'file holding the agent token (default: $FLOODGATE_TOKEN)')
      .option('--ca-file <path>', 'PEM CA bundle of an https:// agent (default: $FLOODGATE_AGENT_CA, else the system\'s CAs)', process.env.FLOODGATE_AGENT_CA)
      .option('--cert-file <path>', 'client certificate for an agent that requires mutual TLS (default: $FLOODGATE_AGENT_CERT)', process.env.FLOODGATE_AGENT_CERT)
      .option('--key-file <path>', 'private key of --cert-file (default: $FLOODGATE_AGENT_KEY)', process.env.FLOODGATE_AGENT_KEY)
      .option('--server-name <name>', 'the name in the agent\'s certificate, when the URL\'s host is not it')
      .option('--json', 'print JSON');

  common(blocks.command('list').description('list active bans and signature rules')).action(async (flags: ClientFlags) => {
    const client = await agentClient(flags);
    const res = await client.call((c) => c.listBlocks());
    // An agent without signature rules (an older one) answers 404: bans only.
    const sigs = await client.call((c) => c.signatures()).catch((err: unknown) => {
      if (err instanceof Error && /no such route/.test(err.message)) return undefined;
      throw err;
    });
    if (flags.json) return void console.log(JSON.stringify({ ...res, ...(sigs ? { signatures: sigs.signatures } : {}) }, null, 2));
    console.log(renderBlocks(res.blocks));
    if (sigs) console.log(`\n${renderSignatures(sigs.signatures)}`);
  });

  common(
    blocks
      .command('add')
      .description('ban an address or CIDR')
      .argument('<ip-or-cidr>')
      .option('--duration <seconds>', 'ban duration', positiveInt, 3600)
      .option('--reason <text>', 'why', 'manual ban (floodgate blocks add)'),
  ).action(async (target: string, flags: ClientFlags & { duration: number; reason: string }) => {
    const key = target.includes('/') ? 'cidr' : 'ip';
    const res = await (await agentClient(flags)).call((c) => c.block({ [key]: target, durationSeconds: flags.duration, reason: flags.reason }));
    console.log(flags.json ? JSON.stringify(res, null, 2) : `blocked ${res.cidr} until ${res.expiresAt}`);
  });

  common(
    blocks
      .command('rm')
      .description('unban an address or CIDR, or every ban with --all, or remove a signature rule with --signature <id>')
      .argument('[ip-or-cidr]')
      .option('--all', 'remove every ban on the agent')
      .option('--signature <id>', 'remove this signature rule (its id from blocks list) and every helper rule it added'),
  ).action(async (target: string | undefined, flags: ClientFlags & { all?: boolean; signature?: string }) => {
    const client = await agentClient(flags);
    if (flags.signature !== undefined) {
      if (target !== undefined || flags.all) throw usageError('blocks rm: --signature takes no address and no --all');
      const id = flags.signature;
      const res = await client.call((c) => c.removeSignature(id));
      console.log(flags.json ? JSON.stringify(res) : res.removed ? `removed signature rule ${id}` : `no signature rule ${id}`);
      return;
    }
    if ((target === undefined) === (flags.all !== true)) {
      throw usageError('blocks rm: give an address or CIDR, or --all (not both)');
    }
    if (target === undefined) {
      const res = await client.call((c) => c.unblockAll());
      console.log(flags.json ? JSON.stringify(res) : `unblocked ${res.removed} ban(s)`);
      return;
    }
    const res = await client.call((c) => c.unblock(target));
    console.log(flags.json ? JSON.stringify(res) : res.removed ? `unblocked ${target}` : `${target} was not blocked`);
  });
}
