// `floodgate attack http|syn|udp|icmp`: floods for testing your own systems.
// Flags are validated first, then the target is resolved and checked by the
// guard (attack/target-guard.ts); nothing is sent before both pass. Progress
// goes to stderr once a second, the summary to stdout (JSON with --json).
import type { Command } from 'commander';
import { CliError, usageError } from './cli-error.js';
import { httpFloodSchema, InvalidAttackOptions, packetFloodSchema, parseOptions, PACKET_KINDS, type PacketKind } from '../attack/options.js';
import { checkTarget, TargetRefused, type CheckedTarget } from '../attack/target-guard.js';
import { startPacketFlood } from '../attack/packet-flood.js';
import { httpProgressLine, packetProgressLine, renderHttpSummary, renderPacketSummary } from '../attack/report.js';

/** Validation and guard failures are usage errors: one line, exit 2, nothing sent. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InvalidAttackOptions || err instanceof TargetRefused) throw usageError(err.message);
    throw err;
  }
}

function progressWriter(): (line: string) => void {
  // On a terminal the line is rewritten in place; in a pipe each second is its own line.
  return process.stderr.isTTY ? (line) => process.stderr.write(`\r\x1b[K${line}`) : (line) => process.stderr.write(`${line}\n`);
}

function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\n');
}

/** Stop the flood on Ctrl-C and still print the summary. */
function stopOnSigint(stop: () => void): () => void {
  const handler = () => stop();
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

/**
 * The HTTP flood module, loaded only by `attack http`: autocannon is an
 * optional dependency, absent from the production images (npm ci
 * --omit=optional), so nothing else in the CLI may load it.
 */
async function loadHttpFlood(): Promise<typeof import('../attack/http-flood.js')> {
  try {
    return await import('../attack/http-flood.js');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && /autocannon/.test(e.message)) {
      throw new CliError('attack http needs the optional package autocannon, which this install omits (the floodgate images do): run it from a checkout after `npm ci`');
    }
    throw err;
  }
}

const accepted = (t: CheckedTarget) => `${t.address}: ${t.why}`;

type RawFlags = Record<string, unknown>;

export function registerAttack(program: Command): void {
  const attack = program
    .command('attack')
    .description('flood a target you own (loopback or a floodgate lab namespace; see --i-own-this-target)');

  attack
    .command('http')
    .description('HTTP flood (autocannon): keep-alive connections, optional rate cap')
    .argument('<url>', 'http:// or https:// URL')
    .option('-c, --concurrency <n>', 'concurrent connections', '10')
    .option('-r, --rate <n>', 'cap on requests per second over all connections (default: no cap)')
    .option('-d, --duration <seconds>', 'how long to flood', '10')
    .option('-m, --method <method>', 'HTTP method', 'GET')
    .option('-H, --header <header>', '"Name: value", repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--body <text>', 'request body')
    .option('--timeout <seconds>', 'per-request timeout', '10')
    .option('--json', 'print the summary as JSON')
    .option('--i-own-this-target', 'allow a destination outside loopback and the lab namespaces')
    .action(async (url: string, flags: RawFlags) => {
      const opts = await guarded(async () => parseOptions(httpFloodSchema, { url, ...flags }));
      const target = await guarded(() => checkTarget(new URL(opts.url).hostname, { iOwnThisTarget: opts.iOwnThisTarget }));
      const { startHttpFlood } = await loadHttpFlood();
      const write = progressWriter();
      process.stderr.write(`flooding ${opts.url} (${accepted(target)}) for ${opts.duration} s with ${opts.concurrency} connections${opts.rate ? `, at most ${opts.rate} req/s` : ''}\n`);
      const run = startHttpFlood(opts, target.address, (p) => write(httpProgressLine(p)));
      const release = stopOnSigint(run.stop);
      const summary = await run.done.finally(release);
      endProgress();
      console.log(opts.json ? JSON.stringify(summary, null, 2) : renderHttpSummary(summary));
    });

  for (const kind of PACKET_KINDS) registerPacketFlood(attack, kind);
}

const PACKET_DESCRIPTIONS: Record<PacketKind, string> = {
  syn: 'TCP SYN flood (hping3 -S)',
  udp: 'UDP flood (hping3 -2)',
  icmp: 'ICMP echo flood (hping3 -1)',
};

function registerPacketFlood(attack: Command, kind: PacketKind): void {
  const cmd = attack
    .command(kind)
    .description(`${PACKET_DESCRIPTIONS[kind]}; needs root or CAP_NET_RAW`)
    .argument('<dest>', 'IPv4 address or hostname');
  if (kind !== 'icmp') cmd.option('-p, --port <port>', 'destination port (default 80)');
  cmd
    .option('-d, --duration <seconds>', 'how long to flood', '10')
    .option('-r, --rate <pps>', 'packets per second (default 1000; hping3 -i u<interval>)')
    .option('--flood', 'as fast as possible (hping3 --flood)')
    .option('--rand-source', 'spoof a random source address per packet')
    .option('--json', 'print the summary as JSON')
    .option('--i-own-this-target', 'allow a destination outside loopback and the lab namespaces')
    .action(async (dest: string, flags: RawFlags) => {
      const opts = await guarded(async () => parseOptions(packetFloodSchema, { kind, dest, ...flags }));
      const target = await guarded(() => checkTarget(opts.dest, { iOwnThisTarget: opts.iOwnThisTarget, family: 4 }));
      const write = progressWriter();
      const what = `${kind} flood of ${opts.dest}${opts.port ? ` port ${opts.port}` : ''}`;
      process.stderr.write(`${what} (${accepted(target)}) for ${opts.duration} s, ${opts.flood ? 'as fast as possible' : `${opts.rate} pps`}${opts.randSource ? ', random sources' : ''}\n`);
      const run = startPacketFlood(opts, opts.dest, target.address, (p) => write(packetProgressLine(p)));
      const release = stopOnSigint(run.stop);
      const summary = await run.done.finally(release);
      endProgress();
      console.log(opts.json ? JSON.stringify(summary, null, 2) : renderPacketSummary(summary));
    });
}
