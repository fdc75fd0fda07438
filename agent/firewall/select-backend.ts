// Picks the firewall backend: nft when it is installed and answers, else
// iptables + ipset, else pf on macOS. A configured name skips detection.

import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { DryRunBackend } from './dry-run-backend.js';
import { type CommandExecutor, createExecutor } from './exec.js';
import { IptablesBackend } from './iptables-backend.js';
import { NftBackend } from './nft-backend.js';
import { PfBackend } from './pf-backend.js';
import type { BackendName, FirewallBackend } from './types.js';

export type BackendChoice = BackendName | 'auto';

export interface SelectBackendOptions {
  name?: BackendChoice;
  exec?: CommandExecutor;
  platform?: NodeJS.Platform;
  /** Is this binary on PATH? Injectable for tests. */
  onPath?: (binary: string) => Promise<boolean>;
  /** The longest ban (pf drops older entries at start). */
  maxBanSeconds?: number;
}

export interface BackendSelection {
  backend: FirewallBackend;
  /** Why this one, and why not the others (for logs and doctor). */
  reasons: string[];
}

export async function isOnPath(binary: string, path = process.env['PATH'] ?? ''): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      await access(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      // try the next directory
    }
  }
  return false;
}

export function createBackend(name: BackendName, exec: CommandExecutor, options: { maxBanSeconds?: number } = {}): FirewallBackend {
  switch (name) {
    case 'nft':
      return new NftBackend({ exec });
    case 'iptables':
      return new IptablesBackend({ exec });
    case 'pf':
      return new PfBackend({ exec, ...(options.maxBanSeconds === undefined ? {} : { maxBanSeconds: options.maxBanSeconds }) });
    case 'dry-run':
      return new DryRunBackend();
  }
}

export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendSelection> {
  const exec = options.exec ?? createExecutor();
  const name = options.name ?? 'auto';
  if (name !== 'auto') return { backend: createBackend(name, exec, options), reasons: [`${name}: configured`] };

  const onPath = options.onPath ?? ((binary: string) => isOnPath(binary));
  const platform = options.platform ?? process.platform;
  const reasons: string[] = [];
  // A probe that cannot even start counts as "does not work".
  const works = async (argv: string[]): Promise<string | undefined> => {
    try {
      const result = await exec(argv, { allowFailure: true });
      return result.exitCode === 0 ? undefined : result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`;
    } catch (error) {
      return (error as Error).message;
    }
  };

  if (!(await onPath('nft'))) reasons.push('nft: not on PATH');
  else {
    const problem = await works(['nft', 'list', 'tables']);
    if (problem === undefined) return { backend: createBackend('nft', exec, options), reasons: [...reasons, 'nft: available'] };
    reasons.push(`nft: 'nft list tables' failed: ${problem}`);
  }

  const missing = [];
  for (const binary of ['iptables', 'ip6tables', 'ipset']) if (!(await onPath(binary))) missing.push(binary);
  if (missing.length > 0) reasons.push(`iptables: ${missing.join(', ')} not on PATH`);
  else {
    const problem = (await works(['ipset', 'list', '-n'])) ?? (await works(['iptables', '-w', '-t', 'raw', '-n', '-L', 'PREROUTING']));
    if (problem === undefined) return { backend: createBackend('iptables', exec, options), reasons: [...reasons, 'iptables: available'] };
    reasons.push(`iptables: probe failed: ${problem}`);
  }

  if (platform !== 'darwin') reasons.push(`pf: only on macOS (this is ${platform})`);
  else if (!(await onPath('pfctl'))) reasons.push('pf: pfctl not on PATH');
  else return { backend: createBackend('pf', exec, options), reasons: [...reasons, 'pf: available'] };

  throw new Error(`no usable firewall backend (${reasons.join('; ')}); set the backend to 'dry-run' to run without one`);
}
