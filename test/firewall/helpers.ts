// Test helper: wraps an executor and records every command it was asked to run.

import type { CommandExecutor, CommandOptions } from '../../agent/firewall/exec.js';

export interface RecordingExecutor {
  exec: CommandExecutor;
  calls: { argv: string[]; input?: string }[];
}

export function recording(inner: CommandExecutor): RecordingExecutor {
  const calls: RecordingExecutor['calls'] = [];
  return {
    calls,
    exec: (argv: readonly string[], options?: CommandOptions) => {
      calls.push({ argv: [...argv], ...(options?.input !== undefined ? { input: options.input } : {}) });
      return inner(argv, options);
    },
  };
}

/** Strings that must never reach a firewall command. */
export const INJECTION_CORPUS: readonly string[] = [
  '1.2.3.4; rm -rf /',
  '$(id)',
  '`id`',
  '1.2.3.4\nflush ruleset',
  '1.2.3.4 }\nflush ruleset',
  '} ; flush ruleset',
  'drop',
  '1.2.3.4 timeout 1s, 5.6.7.8',
  '1.2.3.4/24/8',
  '-F',
  '--flush',
  '',
  ' 1.2.3.4',
  '1.2.3.4/ 24',
  'fe80::1%eth0;reboot',
  '9'.repeat(10_000),
  `1.2.3.4${' '.repeat(5000)}`,
  '\u0000',
];
