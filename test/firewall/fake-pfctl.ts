// Test helper: a recording fake `pfctl`, placed first on PATH. It appends
// every invocation (argv + stdin) as a JSON line to a log, keeps a tiny
// model of our anchor (rules loaded? table contents) in a state file, and
// fails loudly on any argv it does not know, so an unexpected command
// (e.g. a main-ruleset load) breaks the test.

import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandExecutor, createExecutor } from '../../agent/firewall/exec.js';

const FAKE = String.raw`
const fs = require('fs');
const path = require('path');
const dir = __dirname;
const argv = process.argv.slice(2);
const usesStdin = argv.includes('-f') && argv[argv.indexOf('-f') + 1] === '-';
const stdin = usesStdin ? fs.readFileSync(0, 'utf8') : undefined;
fs.appendFileSync(path.join(dir, 'log.jsonl'), JSON.stringify(stdin === undefined ? { argv } : { argv, stdin }) + '\n');
const statePath = path.join(dir, 'state.json');
const state = fs.existsSync(statePath) ? JSON.parse(fs.readFileSync(statePath, 'utf8')) : { rules: '', table: null, sig: '' };
state.sig = state.sig || '';
const sigPrefix = '-a floodgate/signatures ';
const save = () => fs.writeFileSync(statePath, JSON.stringify(state));
const key = argv.join(' ');
const fail = (msg) => { process.stderr.write(msg + '\n'); process.exit(1); };
const tablePrefix = '-a floodgate -t floodgate_blocked -T ';
if (key === '-a floodgate -s rules') {
  process.stdout.write(state.rules.split('\n').filter((l) => l.startsWith('block') || l.startsWith('anchor')).map((l) => l + '\n').join(''));
} else if (key === sigPrefix + '-f -') {
  state.sig = stdin; save();
} else if (key === sigPrefix + '-s rules') {
  process.stdout.write(state.sig.split('\n').filter((l) => /^(block|pass)/.test(l)).map((l) => l + '\n').join(''));
} else if (key === sigPrefix + '-s labels') {
  // pfctl -s labels: "label evaluations packets bytes in_packets in_bytes out_packets out_bytes states"
  for (const m of state.sig.matchAll(/label "(sig_[0-9a-f]{16})"/g)) process.stdout.write(m[1] + ' 120 42 2520 42 2520 0 0 0\n');
} else if (key === sigPrefix + '-F rules' || key === sigPrefix + '-F Tables') {
  state.sig = ''; save();
} else if (key === '-a floodgate -v -s rules') {
  for (const l of state.rules.split('\n').filter((l) => l.startsWith('block'))) {
    process.stdout.write(l + '\n  [ Evaluations: 120       Packets: 42        Bytes: 2520        States: 0     ]\n  [ Inserted: uid 0 pid 1 State Creations: 0     ]\n');
  }
} else if (key === '-a floodgate -f -') {
  state.rules = stdin; if (/table <floodgate_blocked>/.test(stdin)) state.table = state.table || []; save();
} else if (key === '-a floodgate -F rules') {
  state.rules = ''; save(); process.stderr.write('rules cleared\n');
} else if (key.startsWith(tablePrefix + 'add ')) {
  state.table = state.table || []; const add = argv.slice(6).filter((a) => !state.table.includes(a));
  state.table.push(...add); save(); process.stderr.write(add.length + '/' + (argv.length - 6) + ' addresses added.\n');
} else if (key.startsWith(tablePrefix + 'delete ')) {
  if (!state.table) fail('pfctl: Table does not exist.');
  state.table = state.table.filter((a) => !argv.slice(6).includes(a)); save();
} else if (key === tablePrefix + 'show') {
  if (!state.table) fail('pfctl: Table does not exist.');
  process.stdout.write(state.table.map((a) => '   ' + a + '\n').join(''));
} else if (key === tablePrefix + 'kill') {
  if (!state.table) fail('pfctl: Table does not exist.');
  state.table = null; save(); process.stderr.write('1 table deleted.\n');
} else if (argv[0] === '-k' && argv.length === 2) {
  process.stderr.write('killed 0 states from 1 sources and 0 destinations\n');
} else {
  fail('fake pfctl: unexpected argv: ' + key);
}
`;

export interface FakePfctl {
  dir: string;
  exec: CommandExecutor;
  /** Every invocation so far, in order. */
  log(): Promise<{ argv: string[]; stdin?: string }[]>;
  clearLog(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function installFakePfctl(): Promise<FakePfctl> {
  const dir = await mkdtemp(join(tmpdir(), 'fg-fake-pfctl-'));
  const script = join(dir, 'pfctl');
  await writeFile(script, `#!${process.execPath}\n${FAKE}`);
  await chmod(script, 0o755);
  const logPath = join(dir, 'log.jsonl');
  return {
    dir,
    exec: createExecutor({ env: { PATH: `${dir}:${process.env['PATH'] ?? ''}` } }),
    async log() {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { argv: string[]; stdin?: string });
    },
    async clearLog() {
      await rm(logPath, { force: true });
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
