// `floodgate analyze FILE`: judge a pcap/pcapng capture, window by window.
import fs from 'node:fs';
import type { Command } from 'commander';
import { collect, positiveInt, positiveNumber } from './number-options.js';
import { addThresholdFlags, thresholdsFromFlags, type ThresholdFlagValues } from './threshold-flags.js';
import { formatSpan, renderThresholds, renderVerdict } from './verdict-report.js';
import { usageError } from './cli-error.js';

interface AnalyzeFlags extends ThresholdFlagValues {
  window: number;
  json?: boolean;
  protect?: string[];
  slotMs?: number;
  baseline: boolean;
}

export function registerAnalyze(program: Command): void {
  const cmd = program
    .command('analyze')
    .description('analyze a pcap or pcapng capture: victims, attack vector, top sources, proposed mitigation')
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--window <seconds>', 'analysis window, as the seed\'s capture time', positiveNumber, 7)
    .option('--protect <cidrs>', 'protected addresses/CIDRs, comma-separated (default: inferred from the capture)', collect)
    .option('--slot-ms <ms>', 'aggregation slot width in ms (100..60000)', positiveInt)
    .option('--no-baseline', 'judge every window on floors and ceilings only (no baselines learned from the file)')
    .option('--json', 'print the analysis as JSON');
  addThresholdFlags(cmd).action(async (file: string, flags: AnalyzeFlags) => {
    // Loaded here, not at the top: other commands (the controller) need none of the engine.
    const { analyzeFile } = await import('../agent/capture-analysis/file-analysis.js');
    const { ipOrCidr } = await import('../native/lib/capture-options.js');
    const thresholds = await thresholdsFromFlags(flags);
    for (const p of flags.protect ?? []) {
      if (!ipOrCidr.safeParse(p).success) throw usageError(`--protect: "${p}" is not an IP address or CIDR`);
    }
    if (!fs.existsSync(file)) throw usageError(`no such file: ${file}`);
    const progress = !flags.json && process.stderr.isTTY;
    const result = await analyzeFile(file, {
      windowSeconds: flags.window,
      thresholds,
      protect: flags.protect,
      slotMs: flags.slotMs,
      baselines: flags.baseline,
      onWindow: progress ? (w) => process.stderr.write(`\r  analyzed window ending ${w.end}`) : undefined,
    });
    if (progress) process.stderr.write('\r\x1b[K');
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const s = result.stats;
    console.log(`${file}: ${s.processed.toLocaleString('en-US')} packets (${s.malformed} malformed), link type ${result.linktype}`);
    console.log(`protected: ${result.protect.join(', ') || '(none: every destination)'} (${result.protectSource === 'given' ? '--protect' : 'inferred: the destination most sources talk to; pass --protect to choose'})`);
    const attacked = result.windows.filter((w) => w.underAttack).length;
    const covered = result.windows.reduce((n, w) => n + w.seconds, 0);
    console.log(
      `windows: ${result.windows.length} of ${flags.window} s (traffic covers ${formatSpan(covered)}), ${attacked} under attack; ` +
        (flags.baseline ? `baselines learned ${formatSpan(result.baselineSeconds)} (judge after ${thresholds.warmupSeconds} s)` : 'baselines off'),
    );
    for (const line of renderThresholds(thresholds)) console.log(line);
    if (result.peak) {
      console.log(`peak ${renderVerdict(result.peak)}`);
    } else {
      console.log('no IP packets in the capture');
    }
  });
}
