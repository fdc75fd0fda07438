// CLI: write every scenario capture and its <name>.truth.json.
//   npx tsx test/gen/write-scenarios.ts --out DIR [--only NAME] [--seed N] [--format pcap|pcapng]
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { readFlag } from './cli-args.js';
import { SCENARIO_NAMES, writeScenario, type ScenarioName } from './scenarios.js';

function main(argv: string[]): void {
  const outFlag = readFlag(argv, 'out');
  if (outFlag === undefined) throw new Error('usage: write-scenarios.ts --out DIR [--only NAME] [--seed N] [--format pcap|pcapng]');
  const out = resolve(outFlag);
  const only = readFlag(argv, 'only');
  const seedText = readFlag(argv, 'seed');
  const format = readFlag(argv, 'format') ?? 'pcap';
  if (format !== 'pcap' && format !== 'pcapng') throw new Error(`unknown format ${format}`);
  const names = only === undefined ? [...SCENARIO_NAMES] : SCENARIO_NAMES.filter((n) => n === only);
  if (names.length === 0) throw new Error(`no scenario ${only}; known: ${SCENARIO_NAMES.join(', ')}`);
  mkdirSync(out, { recursive: true });
  for (const name of names as ScenarioName[]) {
    const started = performance.now();
    const r = writeScenario(name, out, { seed: seedText === undefined ? undefined : Number(seedText), format });
    const ms = Math.round(performance.now() - started);
    process.stderr.write(`${name}: ${r.truth.totalPackets} packets (${r.truth.inboundPackets} inbound) in ${ms} ms -> ${r.capturePath}\n`);
  }
}

main(process.argv.slice(2));
