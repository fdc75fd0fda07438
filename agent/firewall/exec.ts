// The one way the firewall layer runs external commands: execa with an
// argument array (never a shell string). A prefix such as
// ['ip', 'netns', 'exec', NS] lets tests run a backend inside a namespace.

import { execa } from 'execa';

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface CommandOptions {
  /** Written to the command's stdin (nft -f -, ipset restore, pfctl -f -). */
  input?: string;
  /** Return a non-zero exit instead of throwing (for probes such as iptables -C). */
  allowFailure?: boolean;
  /** Extra environment for this command, e.g. TZ=UTC for nft's time expressions. */
  env?: Record<string, string>;
}

export type CommandExecutor = (argv: readonly string[], options?: CommandOptions) => Promise<CommandResult>;

export class FirewallCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    // Only the first stderr line: nft repeats the whole offending input after it.
    const firstLine = stderr.trim().split('\n')[0] ?? '';
    super(`${argv.join(' ')} failed (exit ${exitCode ?? 'none'}): ${firstLine}`);
    this.name = 'FirewallCommandError';
  }
}

export interface ExecutorOptions {
  /** Prepended to every argv, e.g. ['ip', 'netns', 'exec', 'fgtest-1']. */
  prefix?: readonly string[];
  /** Extra environment (merged over process.env), e.g. a PATH with a fake pfctl. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export function createExecutor(options: ExecutorOptions = {}): CommandExecutor {
  const prefix = options.prefix ?? [];
  return async (argv, commandOptions = {}) => {
    const full = [...prefix, ...argv];
    const [file, ...args] = full;
    if (file === undefined) throw new Error('empty command');
    const result = await execa(file, args, {
      input: commandOptions.input ?? '',
      reject: false,
      env: commandOptions.env ? { ...options.env, ...commandOptions.env } : options.env,
      timeout: options.timeoutMs ?? 120_000,
      stripFinalNewline: false,
    });
    const outcome: CommandResult = {
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      exitCode: result.exitCode ?? -1,
    };
    if (result.exitCode === undefined) {
      // Not started (ENOENT) or killed by the timeout: never a usable answer.
      throw new FirewallCommandError(full, undefined, outcome.stderr || result.shortMessage || 'command did not run');
    }
    if (outcome.exitCode !== 0 && !commandOptions.allowFailure) {
      throw new FirewallCommandError(full, outcome.exitCode, outcome.stderr);
    }
    return outcome;
  };
}
