// `floodgate capture`: live capture for N seconds, then the same verdict as analyze.
// --ndjson streams one line of aggregates per slot (the seed wrote a CSV row per packet).
import type { Command } from 'commander';
import type { Slot } from '../native/lib/types.js';
import { collect, positiveInt, positiveNumber } from './number-options.js';
import { addThresholdFlags, thresholdsFromFlags, type ThresholdFlagValues } from './threshold-flags.js';
import { renderVerdict } from './verdict-report.js';
import { usageError } from './cli-error.js';

interface CaptureFlags extends ThresholdFlagValues {
  interface?: string;
  seconds: number;
  window?: number;
  ndjson?: boolean;
  json?: boolean;
  write?: string;
  filter?: string;
  promisc?: boolean;
  snaplen?: number;
  slotMs?: number;
  protect?: string[];
}


/** One NDJSON line per slot: totals and the heaviest entries, no sketches. */
function slotLine(s: Slot): string {
  const strip = <T extends { sourceSketch?: unknown }>(x: T) => {
    const { sourceSketch: _omit, ...rest } = x;
    return rest;
  };
  return JSON.stringify({
    type: 'slot',
    start: new Date(s.start).toISOString(),
    end: new Date(s.end).toISOString(),
    totals: s.totals,
    distinctSources: s.distinctSources,
    sources: s.sources.slice(0, 10),
    destinations: s.destinations.slice(0, 10).map(strip),
  });
}

export function registerCapture(program: Command): void {
  const cmd = program
    .command('capture')
    .description('capture live traffic for N seconds and analyze it (needs root or CAP_NET_RAW)')
    .option('-i, --interface <if>', 'interface (default: the interface of the default route)')
    .requiredOption('--seconds <n>', 'how long to capture', positiveNumber)
    .option('--window <seconds>', 'analyze the last N seconds (default: the whole capture)', positiveNumber)
    .option('--ndjson', 'stream one JSON line of aggregates per slot, then the verdict')
    .option('--json', 'print the verdict as JSON')
    .option('-w, --write <file.pcap>', 'also keep the raw packets in a pcap file')
    .option('--filter <bpf>', 'BPF capture filter')
    .option('--promisc', 'promiscuous mode')
    .option('--snaplen <bytes>', 'bytes captured per packet (headers only by default)', positiveInt)
    .option('--slot-ms <ms>', 'aggregation slot width in ms (100..60000)', positiveInt)
    .option('--protect <cidrs>', 'extra protected addresses/CIDRs besides the interface\'s own', collect);
  addThresholdFlags(cmd).action(async (flags: CaptureFlags) => {
    // Loaded here, not at the top: other commands (the controller) need none of the engine.
    const { Capture } = await import('../native/lib/capture.js');
    const { loadBinding } = await import('../native/lib/binding.js');
    const { interfaceAddresses } = await import('../native/lib/interface-addresses.js');
    const { defaultInterface } = await import('../native/lib/default-interface.js');
    const { analyzeWindow } = await import('../detection/analyze.js');
    const { ipOrCidr } = await import('../native/lib/capture-options.js');
    const thresholds = await thresholdsFromFlags(flags);
    for (const p of flags.protect ?? []) {
      if (!ipOrCidr.safeParse(p).success) throw usageError(`--protect: "${p}" is not an IP address or CIDR`);
    }
    const interfaces = loadBinding().interfaces();
    const iface = flags.interface ?? (await defaultInterface(() => interfaces));
    const protect = [...interfaceAddresses(iface, interfaces), ...(flags.protect ?? [])];
    const cap = Capture.openLive({
      interface: iface,
      promiscuous: flags.promisc ?? false,
      snaplen: flags.snaplen,
      filter: flags.filter,
      writeFile: flags.write,
      slotMs: flags.slotMs,
      protect,
      keepSources: 20000,
    });
    for (const w of cap.info.warnings) process.stderr.write(`warning: ${w}\n`);
    const quiet = flags.json || flags.ndjson;
    if (!quiet) {
      process.stderr.write(`capturing on ${iface} for ${flags.seconds} s; protected: ${protect.join(', ') || '(none: every destination)'}\n`);
    }
    const stop = () => cap.stop();
    const timer = setTimeout(stop, flags.seconds * 1000);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);

    const windowMs = (flags.window ?? flags.seconds) * 1000;
    const kept: Slot[] = [];
    try {
      for await (const slot of cap.slots()) {
        if (flags.ndjson) process.stdout.write(`${slotLine(slot)}\n`);
        else if (!quiet && process.stderr.isTTY) process.stderr.write(`\r  ${new Date(slot.end).toISOString()}  ${slot.totals.packets} packets in slot`);
        kept.push(slot);
        while (kept.length > 0 && kept[0]!.end <= slot.end - windowMs) kept.shift();
      }
    } finally {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    const stats = cap.stats();
    cap.close();
    if (!quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    const verdict = analyzeWindow(kept, thresholds, {
      drops: { dropped: stats.dropped, ifDropped: stats.ifDropped, slotsDropped: stats.slotsDropped },
    });
    if (flags.ndjson) {
      process.stdout.write(`${JSON.stringify({ type: 'verdict', interface: iface, stats, verdict })}\n`);
    } else if (flags.json) {
      process.stdout.write(`${JSON.stringify({ interface: iface, protect, stats, verdict }, null, 2)}\n`);
    } else {
      console.log(`${iface}: ${stats.processed} packets captured, ${stats.dropped} dropped by the kernel, ${stats.ifDropped} by the interface${flags.write ? `; raw packets in ${flags.write}` : ''}`);
      console.log(renderVerdict(verdict));
    }
  });
}
