// `floodgate blocks list|add|rm`: manage bans on a running agent.
import type { Command } from 'commander';
import type { BanRecord } from '../api/agent/v1/types.js';
import type { AgentClient as AgentClientType } from './agent-client.js';
import { usageError } from './cli-error.js';
import { positiveInt } from './number-options.js';

interface ClientFlags {
  agent: string;
  tokenFile?: string;
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

export function renderBlocks(blocks: BanRecord[]): string {
  if (blocks.length === 0) return 'no active blocks';
  const rows = [['CIDR', 'EXPIRES IN', 'SOURCE', 'POLICY', 'OFFENCES', 'REASON']];
  for (const b of blocks) rows.push([b.cidr, timeLeft(b.expiresAt), b.source, b.policy ?? '-', String(b.offenceCount), b.reason]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

export function registerBlocks(program: Command): void {
  const blocks = program.command('blocks').description('list, add and remove bans on a running agent');
  const common = (cmd: Command) =>
    cmd
      .option('--agent <url>', 'agent URL', process.env.FLOODGATE_AGENT ?? 'http://127.0.0.1:12345')
      .option('--token-file <path>', 'file holding the agent token (default: $FLOODGATE_TOKEN)')
      .option('--json', 'print JSON');

  common(blocks.command('list').description('list active bans')).action(async (flags: ClientFlags) => {
    const res = await (await agentClient(flags)).call((c) => c.listBlocks());
    console.log(flags.json ? JSON.stringify(res, null, 2) : renderBlocks(res.blocks));
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
      .description('unban an address or CIDR, or every ban with --all')
      .argument('[ip-or-cidr]')
      .option('--all', 'remove every ban on the agent'),
  ).action(async (target: string | undefined, flags: ClientFlags & { all?: boolean }) => {
    if ((target === undefined) === (flags.all !== true)) {
      throw usageError('blocks rm: give an address or CIDR, or --all (not both)');
    }
    const client = await agentClient(flags);
    if (target === undefined) {
      const res = await client.call((c) => c.unblockAll());
      console.log(flags.json ? JSON.stringify(res) : `unblocked ${res.removed} ban(s)`);
      return;
    }
    const res = await client.call((c) => c.unblock(target));
    console.log(flags.json ? JSON.stringify(res) : res.removed ? `unblocked ${target}` : `${target} was not blocked`);
  });
}
