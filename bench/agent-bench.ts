// npm run bench:agent — the host agent end to end in the network-namespace lab:
//   1. flood start → ban in place, floodgate auto-defense vs FastNetMon 1.2.4
//      (Debian's package, started by hand in the victim namespace), alternating blocks;
//   2. 10,000 bans through POST /v1/blocks/batch vs one raw `nft -f -` transaction;
//   3. capture loss at hping3's top SYN flood rate;
//   4. agent RSS under a spoofed-source flood.
// Progress on stderr, the report on stdout. Figures only: nothing here asserts timings.
// Env: BENCH_RUNS (10), BENCH_BLOCK (5), BENCH_SEED, BENCH_INSERT_REPEATS (5: section 2's
// batches into a running agent), BENCH_INSERT_FIRST (3: fresh agents timed on their first batch),
// BENCH_LOSS_SECONDS (10), BENCH_SPOOF_SECONDS (60), BENCH_LAB_PREFIX (fglab),
// BENCH_LAB_WAIT_SECONDS (3600), BENCH_SECTIONS (1,2,3,4), BENCH_NO_INSTALL=1, BENCH_SKIP_FASTNETMON=1,
// BENCH_KEEP_TMP=1 (keep state dirs and FastNetMon logs under /tmp/fgbench-*),
// BENCH_AGENT_CPU_PROF=DIR (section 2: the agent writes a V8 CPU profile into DIR),
// BENCH_AGENT_NODE_ARGS (section 2: extra node flags for the agent, space-separated).
import { createLab, type Lab } from '../test/lab/lab-network.js';
import { measureBanLatency, type LatencyResult } from './agent/ban-latency.js';
import { BAN_COUNT, deleteScratchNs, measureInsert, type InsertRound } from './agent/ban-insert.js';
import { measureCaptureLoss, measureRss, type CaptureLossResult, type RssResult } from './agent/capture-and-rss.js';
import { ensureFastnetmon, FNM_THRESHOLD_PPS, writeFnmConfig, type FnmSetup } from './agent/fastnetmon.js';
import { addPortDrop, netnsIdentity, removeTmpDirs, tmpDir, waitForFreeLab } from './agent/lab-tools.js';
import { envNumber, fmtS, log, max, median, met, percentile, seededRandom, stopAllChildren } from './agent/util.js';
import { runSection } from './bench-util.js';

const RUNS = envNumber('BENCH_RUNS', 10, 1);
const BLOCK = envNumber('BENCH_BLOCK', 5, 1);
const SEED = envNumber('BENCH_SEED', Date.now() % 2 ** 31);
const INSERT_REPEATS = envNumber('BENCH_INSERT_REPEATS', 5, 1);
const INSERT_FIRST = envNumber('BENCH_INSERT_FIRST', 3, 0);
const LOSS_SECONDS = envNumber('BENCH_LOSS_SECONDS', 10, 1);
const SPOOF_SECONDS = envNumber('BENCH_SPOOF_SECONDS', 60, 1);
const PREFIX = process.env.BENCH_LAB_PREFIX || 'fglab';
const LAB_WAIT = envNumber('BENCH_LAB_WAIT_SECONDS', 3600, 0);
/** Which sections to run, e.g. BENCH_SECTIONS=2,3 (default all four). */
const SECTIONS = new Set((process.env.BENCH_SECTIONS || '1,2,3,4').split(',').map((x) => x.trim()));

/** The seed: 7 s capture window + 3 s memory poll before anything is banned. */
const SEED_ANCHOR_MS = 10_000;
/** The issue's FastNetMon 1.2.4 figures, used when it cannot run here. */
const FNM_ANCHOR = { medianMs: 500, maxMs: 940 };
const TARGET_LATENCY_MS = 300;
const TARGET_INSERT_RATIO = 3;
const TARGET_RSS_MB = 200;

interface Results {
  latency?: LatencyResult;
  insert?: InsertRound[];
  loss?: CaptureLossResult;
  rss?: RssResult;
  errors: string[];
  fnmVersion?: string;
}

let lab: Lab | undefined;
let tornDown = false;

async function teardown(): Promise<void> {
  if (tornDown) return;
  tornDown = true;
  await stopAllChildren();
  await deleteScratchNs();
  if (lab) {
    log('teardown: destroying the lab');
    await lab.destroy().catch((err: unknown) => log(`lab destroy failed: ${(err as Error).message}`));
  }
  removeTmpDirs();
}

// process.on, not once: execa's signal-exit re-raises the signal (killing us mid-teardown)
// when it finds itself the only listener left.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (tornDown) return;
    log(`${sig}: tearing down`);
    void teardown().finally(() => process.exit(130));
  });
}

async function section<T>(name: string, results: Results, victimIno: number | undefined, fn: () => Promise<T>): Promise<T | undefined> {
  if (lab && netnsIdentity(lab.victim.ns) !== victimIno) {
    results.errors.push(`${name}: skipped, the lab namespaces were deleted or recreated by someone else during the bench`);
    return undefined;
  }
  return runSection(name, results.errors, fn);
}

function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a';
}

function notMeasured(section: string): string {
  return SECTIONS.has(section) ? 'not measured (see Errors)  MISSED' : 'skipped (BENCH_SECTIONS)';
}

function report(r: Results): string {
  const out: string[] = [];
  const summary: string[] = [];
  out.push(`## bench:agent — floodgate host agent in the netns lab (seed ${SEED}, ${RUNS} latency runs per tool)`, '');

  // 1. latency
  out.push('### 1. Flood start → ban in place (hping3 -S -p 80 --flood, one attacker)');
  const fg = r.latency?.floodgate ?? [];
  const fgOk = fg.filter((x) => x.banMs !== undefined && !x.error).map((x) => x.banMs!);
  const fgNft = fg.filter((x) => x.inNftMs !== undefined).map((x) => x.inNftMs!);
  const fnm = r.latency?.fastnetmon ?? [];
  const fnmOk = fnm.filter((x) => x.banMs !== undefined).map((x) => x.banMs!);
  if (r.latency) {
    out.push(
      '',
      'floodgate: auto-defense on (window 1 s, 100 ms slots, default thresholds: sourcePps 5000, share 0.2, minPackets 1000), nft backend.',
      '  ban time = BanRecord.createdAt (GET /v1/blocks); flood start = Date.now() right before spawning hping3.',
      `FastNetMon ${r.fnmVersion ?? ''}: mirror_afpacket on eth0 of the victim namespace, networks_list ${'10.77.0.10/32'}, threshold_pps ${FNM_THRESHOLD_PPS}`,
      '  (per-host incoming pps, set equal to our per-source 5000 pps: one attacker makes both rates the same), average_calculation_time 1,',
      '  check_period 1; ban time = the notify script\'s `date +%s%3N` on the "ban" call (FastNetMon community only notifies: no firewall rule).',
      'Both: the victim drops tcp/80 in its own `table inet fnm` (input hook), so it sends no RSTs; one tool runs at a time, alternating blocks.',
      '',
      '| run | delay | floodgate ban | in nft set (50 ms poll) | FastNetMon ban | FNM saw |',
      '|---:|---:|---:|---:|---:|---|',
    );
    for (let i = 0; i < Math.max(fg.length, fnm.length); i++) {
      const a = fg[i];
      const b = fnm[i];
      out.push(
        `| ${i + 1} | ${a ? `${a.delayMs} ms` : ''} / ${b ? `${b.delayMs} ms` : ''} | ${a?.banMs !== undefined ? fmtS(a.banMs) : a?.error ?? ''} | ${a?.inNftMs !== undefined ? fmtS(a.inNftMs) : ''} | ${b?.banMs !== undefined ? fmtS(b.banMs) : b?.error ?? ''} | ${b?.ip ? `${b.ip} ${b.direction} ${b.pps} pps` : ''} |`,
      );
    }
    const fm = median(fgOk);
    out.push(
      '',
      `floodgate  (${fgOk.length}/${fg.length} banned): median ${fmtS(fm)}, p90 ${fmtS(percentile(fgOk, 90))}, max ${fmtS(max(fgOk))}` +
        `   [in nft set, upper bound: median ${fmtS(median(fgNft))}, max ${fmtS(max(fgNft))}]`,
    );
    const failures = fg.filter((x) => x.error);
    for (const f of failures) out.push(`  run ${f.run}: ${f.error}`);
    out.push(`  vs the seed's anchor (≥ ${SEED_ANCHOR_MS / 1000} s: 7 s window + 3 s memory poll): ${fmtRatio(fm / SEED_ANCHOR_MS)} of it, ${(SEED_ANCHOR_MS / fm).toFixed(0)}× faster (at least)`);
    let fnmMedian = NaN;
    if (fnmOk.length > 0) {
      fnmMedian = median(fnmOk);
      out.push(`FastNetMon (${fnmOk.length}/${fnm.length} banned): median ${fmtS(fnmMedian)}, p90 ${fmtS(percentile(fnmOk, 90))}, max ${fmtS(max(fnmOk))}`);
      for (const f of fnm.filter((x) => x.error)) out.push(`  run ${f.run}: ${f.error}`);
      out.push(`  ratio floodgate/FastNetMon (medians): ${fmtRatio(fm / fnmMedian)}; max: ${fmtRatio(max(fgOk) / max(fnmOk))}`);
    } else {
      const why = r.latency.fnmUnavailable ?? fnm.find((x) => x.error)?.error ?? 'no FastNetMon run banned';
      out.push(`FastNetMon: NOT MEASURED HERE — ${why}`);
      out.push(`  the issue's anchor (FastNetMon 1.2.4): median ${fmtS(FNM_ANCHOR.medianMs)}, max ${fmtS(FNM_ANCHOR.maxMs)}; floodgate/anchor median ratio ${fmtRatio(fm / FNM_ANCHOR.medianMs)}`);
    }
    const allBanned = fgOk.length === fg.length && fg.length > 0;
    summary.push(
      `1. flood → ban, floodgate median       ${fmtS(fm).padEnd(12)} target ≤ ${fmtS(TARGET_LATENCY_MS)}${allBanned ? '' : ` (${fg.length - fgOk.length} run(s) without a ban)`}  ${met(fm <= TARGET_LATENCY_MS && allBanned)}`,
      `   floodgate p90 / max                 ${fmtS(percentile(fgOk, 90))} / ${fmtS(max(fgOk))}`,
      `   vs seed anchor (≥ 10 s)             ${fmtRatio(fm / SEED_ANCHOR_MS)}`,
      fnmOk.length > 0
        ? `   FastNetMon median / max             ${fmtS(fnmMedian)} / ${fmtS(max(fnmOk))}; floodgate/FastNetMon ${fmtRatio(fm / fnmMedian)}`
        : `   FastNetMon                          not measured (anchor 0.500 s median: ratio ${fmtRatio(fm / FNM_ANCHOR.medianMs)})`,
    );
  } else {
    out.push('', notMeasured('1'));
    summary.push(`1. flood → ban                         ${notMeasured('1')}`);
  }
  out.push('');

  // 2. insert
  out.push(`### 2. Inserting ${BAN_COUNT.toLocaleString()} bans (100.64.0.1 …, 3600 s)`);
  if (r.insert && r.insert.length > 0) {
    out.push(
      '',
      'agent: one POST /v1/blocks/batch from curl in the victim namespace → nft backend; timed from the call until `nft -j list set inet floodgate hosts4` (the hash set of addresses) holds all.',
      'raw floor: one `nft -f -` transaction adding the same elements to a fresh `flags interval, timeout` set in a scratch namespace.',
      '"steady": a running agent, emptied with DELETE /v1/blocks?all=true before each batch (the target is judged on these); "first": a freshly started agent\'s first batch, where every line of the ban path runs for the first time (cold JIT).',
      '',
      'Inside the agent (its /metrics): "server" = floodgate_api_request_duration_seconds of the batch request, "nft add" = floodgate_firewall_operation_seconds{operation="add"}.',
      '',
      '| round | kind | raw nft -f | agent (API → in set) | ratio | curl answer | server | nft add | in set | refused | lost |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...r.insert.map(
        (x) =>
          `| ${x.round} | ${x.kind} | ${fmtS(x.rawMs)} | ${fmtS(x.agentMs)} | ${fmtRatio(x.agentMs / x.rawMs)} | ${fmtS(x.agentApiMs)} | ${fmtS(x.serverMs)} | ${fmtS(x.firewallAddMs)} | ${x.agentCount} | ${x.agentRefused} | ${x.lost} |`,
      ),
    );
    const of = (kind: InsertRound['kind']) => {
      const rounds = r.insert?.filter((x) => x.kind === kind) ?? [];
      if (rounds.length === 0) return undefined;
      const raw = median(rounds.map((x) => x.rawMs));
      const ag = median(rounds.map((x) => x.agentMs));
      return { n: rounds.length, raw, ag, ratio: ag / raw };
    };
    const steady = of('steady');
    const first = of('first');
    const lost = Math.max(...r.insert.map((x) => x.lost + x.agentRefused));
    const rawShort = r.insert.some((x) => x.rawCount !== BAN_COUNT);
    for (const [label, m] of [['steady', steady], ['first batch', first]] as const) {
      if (m) out.push('', `${label} (median of ${m.n}): raw ${fmtS(m.raw)}, agent ${fmtS(m.ag)}; ratio agent/raw ${fmtRatio(m.ratio)}`);
    }
    out.push('', `lost ${lost}${rawShort ? ' (the raw floor itself came up short!)' : ''}`);
    const judged = steady ?? first;
    summary.push(
      judged
        ? `2. 10,000 bans, agent/raw floor        ${fmtRatio(judged.ratio).padEnd(12)} target ≤ 3×, 0 lost (${steady ? 'running agent' : 'first batch'}: agent ${fmtS(judged.ag)}, raw ${fmtS(judged.raw)}; lost ${lost})  ${met(judged.ratio <= TARGET_INSERT_RATIO && lost === 0)}`
        : `2. 10,000 bans                         no rounds`,
      ...(first && steady ? [`   a fresh agent's first batch         ${fmtRatio(first.ratio)} (agent ${fmtS(first.ag)}, raw ${fmtS(first.raw)})`] : []),
    );
  } else {
    out.push('', notMeasured('2'));
    summary.push(`2. 10,000 bans                         ${notMeasured('2')}`);
  }
  out.push('');

  // 3. loss
  out.push('### 3. Capture loss at hping3 --flood top rate (auto-defense off)');
  if (r.loss) {
    const l = r.loss;
    out.push(
      '',
      `flood ${l.seconds.toFixed(1)} s${l.hpingTransmitted !== undefined ? `, hping3 sent ${l.hpingTransmitted.toLocaleString()}` : ''}; victim eth0: rx ${l.rxPackets.toLocaleString()} (+ tx ${l.txPackets.toLocaleString()}), rx dropped ${l.rxDropped}`,
      `agent processed ${l.processedTotal.toLocaleString()} (inbound ${l.processedInbound.toLocaleString()}); pcap kernel drops ${l.kernelDropped}, interface drops ${l.ifDropped}, slots dropped ${l.slotsDropped}`,
      `rate reached: ${Math.round(l.pps).toLocaleString()} pps; loss ${l.lossPct.toFixed(3)}% (the seed's sniffer lost 25–27%)`,
    );
    summary.push(`3. capture loss @ ${Math.round(l.pps).toLocaleString()} pps`.padEnd(39) + `${l.lossPct.toFixed(3)}%`.padEnd(13) + `target 0 (pcap drops ${l.kernelDropped})  ${met(l.lossPct === 0 && l.kernelDropped === 0)}`);
  } else {
    out.push('', notMeasured('3'));
    summary.push(`3. capture loss                        ${notMeasured('3')}`);
  }
  out.push('');

  // 4. RSS
  out.push(`### 4. Agent RSS under a spoofed flood (hping3 -S --rand-source -p 80 --flood, auto-defense on)`);
  if (r.rss) {
    const s = r.rss;
    out.push(
      '',
      `flood ${s.seconds.toFixed(1)} s at ~${Math.round(s.pps).toLocaleString()} pps received; VmRSS baseline ${s.baselineMB.toFixed(1)} MB, max ${s.maxMB.toFixed(1)} MB over ${s.samples.length} 1 s samples; bans placed ${s.bans}; pcap drops ${s.kernelDropped}`,
      `samples (MB): ${s.samples.map((x) => x.toFixed(0)).join(' ')}`,
    );
    summary.push(`4. agent max RSS, ${s.seconds.toFixed(0)} s spoofed flood`.padEnd(39) + `${s.maxMB.toFixed(1)} MB`.padEnd(13) + `target ≤ ${TARGET_RSS_MB} MB  ${met(s.maxMB <= TARGET_RSS_MB)}`);
  } else {
    out.push('', notMeasured('4'));
    summary.push(`4. agent RSS                           ${notMeasured('4')}`);
  }
  out.push('');

  if (r.errors.length) out.push('### Errors', '', ...r.errors.map((e) => `- ${e}`), '');
  out.push('### Summary', '', '```', ...summary, '```');
  return out.join('\n');
}

async function main(): Promise<void> {
  const results: Results = { errors: [] };
  try {
    // FastNetMon is set up first: installing it must not overlap the measurements.
    let fnm: FnmSetup | undefined;
    let fnmUnavailable: string | undefined;
    if (process.env.BENCH_SKIP_FASTNETMON === '1' || !SECTIONS.has('1')) {
      fnmUnavailable = 'skipped (BENCH_SKIP_FASTNETMON=1)';
    } else {
      const st = await ensureFastnetmon();
      if (st.ok) results.fnmVersion = st.version;
      else fnmUnavailable = st.why;
    }

    await waitForFreeLab(PREFIX, LAB_WAIT);
    log(`creating the lab (${PREFIX}-victim/-attacker/-client/-router)`);
    lab = await createLab(PREFIX);
    const victimIno = netnsIdentity(lab.victim.ns);
    await addPortDrop(lab);
    if (!fnmUnavailable) fnm = writeFnmConfig(tmpDir('fastnetmon'), lab.victim.ip, lab.victim.dev);

    const l = lab;
    if (SECTIONS.has('1')) results.latency = await section('1. flood → ban latency', results, victimIno, () =>
      measureBanLatency(l, { runs: RUNS, block: BLOCK, rng: seededRandom(SEED), fnm, ...(fnmUnavailable ? { fnmUnavailable } : {}) }),
    );
    if (SECTIONS.has('2')) results.insert = await section('2. 10,000 bans', results, victimIno, () => measureInsert(l, INSERT_REPEATS, INSERT_FIRST));
    if (SECTIONS.has('3')) results.loss = await section('3. capture loss', results, victimIno, () => measureCaptureLoss(l, LOSS_SECONDS));
    if (SECTIONS.has('4')) results.rss = await section('4. RSS under a spoofed flood', results, victimIno, () => measureRss(l, SPOOF_SECONDS));
  } catch (err) {
    results.errors.push((err as Error).message);
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    await teardown();
  }
  console.log(report(results));
  if (results.errors.length) process.exitCode = 1;
}

void main();
