// Section 3: capture loss at hping3's top SYN flood rate (auto-defense off,
// so the firewall drops nothing): the agent's processed packets against the
// victim's eth0 counters over the same interval.
// Section 4: the agent's VmRSS, sampled every second, under a spoofed-source flood.
import type { Lab } from '../../test/lab/lab-network.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import { agentCurl, dropFloodgateTable, ensureQuiet, linkCounters, metricSample, metricSum, startAgent, startFlood, tmpDir, vmRssMB } from './lab-tools.js';
import { log, sleep } from './util.js';

export interface CaptureLossResult {
  seconds: number;
  hpingTransmitted?: number;
  rxPackets: number;
  txPackets: number;
  rxDropped: number;
  processedInbound: number;
  processedTotal: number;
  kernelDropped: number;
  ifDropped: number;
  slotsDropped: number;
  pps: number;
  lossPct: number;
}

export async function measureCaptureLoss(lab: Lab, floodSeconds: number): Promise<CaptureLossResult> {
  await dropFloodgateTable(lab);
  const agent = await startAgent(lab, { ns: lab.victim.ns, dev: lab.victim.dev, backend: 'nft', autoDefense: false, stateDir: tmpDir('loss') });
  try {
    await sleep(1000);
    await ensureQuiet(lab);
    const metrics = async () => {
      const r = await agentCurl(lab, lab.victim.ns, agent, 'GET', '/metrics');
      if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`);
      return r.text;
    };
    const m0 = await metrics();
    const l0 = await linkCounters(lab, lab.victim.ns, lab.victim.dev);
    log(`capture loss: SYN flood for ${floodSeconds} s, auto-defense off`);
    const flood = startFlood(lab, ['-S', '-p', '80', '--flood', lab.victim.ip], floodSeconds);
    const transmitted = await flood.transmitted();
    const floodMs = Date.now() - flood.startedAt;
    await sleep(200);
    const l1 = await linkCounters(lab, lab.victim.ns, lab.victim.dev);
    await sleep(800); // the last slots (100 ms each) reach the counters
    const m1 = await metrics();
    const bans = await agent.api<{ blocks: BanRecord[] }>('GET', '/v1/blocks');
    if ((bans.body?.blocks.length ?? 0) > 0) throw new Error('auto-defense is off but the agent banned something');
    const d = (name: string) => metricSum(m1, name) - metricSum(m0, name);
    const rx = l1.rxPackets - l0.rxPackets;
    const tx = l1.txPackets - l0.txPackets;
    const processedTotal = d('floodgate_packets_total');
    const processedInbound = metricSample(m1, 'floodgate_packets_total', 'direction="inbound"') - metricSample(m0, 'floodgate_packets_total', 'direction="inbound"');
    const wire = rx + tx;
    const res: CaptureLossResult = {
      seconds: floodMs / 1000,
      ...(transmitted === undefined ? {} : { hpingTransmitted: transmitted }),
      rxPackets: rx,
      txPackets: tx,
      rxDropped: l1.rxDropped - l0.rxDropped,
      processedInbound,
      processedTotal,
      kernelDropped: d('floodgate_capture_dropped_packets'),
      ifDropped: d('floodgate_capture_interface_dropped_packets'),
      slotsDropped: d('floodgate_capture_slots_dropped'),
      pps: rx / (floodMs / 1000),
      lossPct: wire > 0 ? (Math.max(0, wire - processedTotal) / wire) * 100 : NaN,
    };
    log(`capture loss: eth0 rx ${rx} + tx ${tx}, agent processed ${processedTotal} (inbound ${processedInbound}), kernel drops ${res.kernelDropped}, loss ${res.lossPct.toFixed(3)}%`);
    return res;
  } finally {
    await agent.stop();
    await dropFloodgateTable(lab);
    await ensureQuiet(lab).catch(() => undefined);
  }
}

export interface RssResult {
  seconds: number;
  baselineMB: number;
  maxMB: number;
  samples: number[];
  pps: number;
  bans: number;
  kernelDropped: number;
}

export async function measureRss(lab: Lab, floodSeconds: number): Promise<RssResult> {
  await dropFloodgateTable(lab);
  const agent = await startAgent(lab, { ns: lab.victim.ns, dev: lab.victim.dev, backend: 'nft', autoDefense: true, stateDir: tmpDir('rss') });
  try {
    const pid = agent.pid();
    if (pid === undefined) throw new Error('agent pid unknown');
    await sleep(2000);
    const baselineMB = vmRssMB(pid) ?? NaN;
    const m0 = (await agentCurl(lab, lab.victim.ns, agent, 'GET', '/metrics')).text;
    const l0 = await linkCounters(lab, lab.victim.ns, lab.victim.dev);
    log(`rss: spoofed SYN flood for ${floodSeconds} s, auto-defense on; agent pid ${pid}, baseline ${baselineMB.toFixed(1)} MB`);
    const flood = startFlood(lab, ['-S', '--rand-source', '-p', '80', '--flood', lab.victim.ip], floodSeconds);
    const samples: number[] = [];
    let nextLog = Date.now() + 10_000;
    while (flood.child.exitCode === null || flood.child.exitCode === undefined) {
      const mb = vmRssMB(pid);
      if (mb === undefined) throw new Error('agent process vanished during the flood');
      samples.push(mb);
      if (Date.now() >= nextLog) {
        log(`rss: ${samples.length} s, VmRSS ${mb.toFixed(1)} MB (max ${Math.max(...samples).toFixed(1)} MB)`);
        nextLog += 10_000;
      }
      await Promise.race([sleep(1000), flood.child.catch(() => undefined)]);
    }
    const floodMs = Date.now() - flood.startedAt;
    await flood.stop();
    for (let i = 0; i < 2; i++) {
      await sleep(1000);
      samples.push(vmRssMB(pid) ?? 0);
    }
    const l1 = await linkCounters(lab, lab.victim.ns, lab.victim.dev);
    const m1 = (await agentCurl(lab, lab.victim.ns, agent, 'GET', '/metrics')).text;
    const bans = await agent.api<{ blocks: BanRecord[] }>('GET', '/v1/blocks');
    return {
      seconds: floodMs / 1000,
      baselineMB,
      maxMB: Math.max(...samples),
      samples,
      pps: (l1.rxPackets - l0.rxPackets) / (floodMs / 1000),
      bans: bans.body?.blocks.length ?? 0,
      kernelDropped: metricSum(m1, 'floodgate_capture_dropped_packets') - metricSum(m0, 'floodgate_capture_dropped_packets'),
    };
  } finally {
    await agent.stop();
    await dropFloodgateTable(lab);
    await ensureQuiet(lab).catch(() => undefined);
  }
}
