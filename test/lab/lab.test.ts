// End-to-end lab: the real agent (bin/floodgate.js agent, nftables backend)
// in a victim namespace, an HTTP server next to it, a benign client polling
// it, and hping3 floods from an attacker namespace. Asserts what a user
// would notice: the attacker is cut off, the client keeps being served, the
// ban expires on time and survives an agent restart, a spoofed flood neither
// bloats the agent nor bans random addresses, and the seed's /trigger-defense
// call still works.
//
// Needs root, Linux, hping3, nft and curl. The lab uses fixed namespace
// names (fglab-*): never run this next to another user of test/lab (e.g.
// bench/agent-bench.ts); the test waits a while if it finds one running.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { createLab, type Lab } from './lab-network.js';
import { startLabAgent, type LabAgent, type LabAgentOptions } from './lab-agent.js';

const VICTIM = '10.77.0.10';
const ATTACKER = '10.77.0.66';
const CLIENT = '10.77.0.20';
const ATTACKER_CIDR = `${ATTACKER}/32`;
const CLIENT_CIDR = `${CLIENT}/32`;
const URL_ = `http://${VICTIM}/`;
/** Short bans so expiry can be watched; the second offence escalates to 2x. */
const BAN_SECONDS = 8;

const skipReason =
  process.platform !== 'linux'
    ? 'the lab needs Linux (network namespaces, nftables)'
    : process.getuid?.() !== 0
      ? 'the lab needs root (it creates network namespaces and nftables rules): run as root'
      : undefined;

// ---------------------------------------------------------------- helpers

const t0 = Date.now();
function progress(msg: string): void {
  console.error(`[lab +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The running test's abort signal: a timed-out test stops polling instead of running on in the background. */
let signal: AbortSignal | undefined;
function checkAborted(): void {
  if (signal?.aborted) throw new Error('test aborted (timed out)');
}

/** Poll `probe` until it returns a value other than undefined, or fail with `what`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkAborted();
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` });
    await sleep(intervalMs);
  }
}

async function requireTools(): Promise<void> {
  for (const tool of ['hping3', 'nft', 'curl', 'timeout', 'bash']) {
    const r = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (r.exitCode !== 0) throw new Error(`${tool} is not installed (Debian: apt-get install hping3 nftables curl)`);
  }
}

/**
 * The agreed protocol with other lab users (bench/agent-bench.ts): run only
 * when `ip netns list` shows no fglab-* namespace. Namespaces that stay
 * without any process for 20 s are leftovers of a killed run, which
 * createLab() removes; a live user's namespaces are waited for (up to 3 min).
 */
async function waitForLabFree(): Promise<void> {
  const deadline = Date.now() + 180_000;
  let idleSince: number | undefined;
  for (;;) {
    const list = String((await execa('ip', ['netns', 'list'], { reject: false })).stdout);
    const names = list.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('fglab-'));
    if (names.length === 0) return;
    let pids = '';
    for (const ns of names) pids += String((await execa('ip', ['netns', 'pids', ns], { reject: false })).stdout).trim();
    if (pids) idleSince = undefined;
    else idleSince ??= Date.now();
    if (idleSince !== undefined && Date.now() - idleSince >= 20_000) {
      progress(`lab namespaces ${names.join(', ')} idle for 20 s: treating them as leftovers`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`lab namespaces (${names.join(', ')}) stay in use: another lab user is running`);
    progress(`lab namespaces in use (${names.join(', ')}); waiting for the other lab user`);
    await sleep(5000);
  }
}

/** Teardown steps, run in reverse order even when the test failed. */
class Cleanup {
  private steps: { name: string; fn: () => Promise<unknown> }[] = [];
  add(name: string, fn: () => Promise<unknown>): void {
    this.steps.push({ name, fn });
  }
  async run(): Promise<void> {
    for (const { name, fn } of this.steps.reverse()) {
      try {
        await fn();
      } catch (err) {
        progress(`cleanup ${name} failed: ${(err as Error).message}`);
      }
    }
    this.steps = [];
  }
}

/** A long-running process in a namespace, in its own process group so stop() also ends its children. */
function background(ns: string, cmd: string, args: string[]): ResultPromise<{ reject: false; buffer: false; detached: true }> {
  return execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: false, buffer: false, detached: true });
}

async function stopBackground(p: ResultPromise): Promise<void> {
  if (p.pid === undefined || p.exitCode !== null) return;
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-p.pid!, sig);
    } catch {
      /* gone already */
    }
  };
  kill('SIGTERM');
  const done = await Promise.race([p.then(() => true), sleep(3000).then(() => false)]);
  if (!done) {
    kill('SIGKILL');
    await p;
  }
}

/** An HTTP server answering "ok" on port 80 in the victim namespace (exits on its own after 5 minutes). */
async function startHttpServer(lab: Lab, cleanup: Cleanup): Promise<void> {
  const server = background(lab.victim.ns, process.execPath, [
    '-e',
    "require('http').createServer((q,s)=>s.end('ok')).listen(80,'0.0.0.0');setTimeout(()=>process.exit(0),300e3)",
  ]);
  cleanup.add('http server', () => stopBackground(server));
  await waitFor('the HTTP server in the victim namespace to answer the client', 10_000, async () =>
    (await curlFrom(lab, lab.client.ns)) ? true : undefined,
  );
}

/** One `curl -m 2` from a namespace to the victim's server: true when it answered 200. */
async function curlFrom(lab: Lab, ns: string): Promise<boolean> {
  const r = await lab.exec(ns, 'curl', ['-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', URL_], { reject: false, timeoutMs: 5000 });
  return r.exitCode === 0 && r.stdout.trim() === '200';
}

interface ClientResult {
  /** When the request started (epoch ms). */
  at: number;
  ok: boolean;
}

/** The benign client: a curl every ~200 ms, each result recorded. Bounded to 4 minutes. */
function startClientLoop(lab: Lab, cleanup: Cleanup): { results: ClientResult[]; stop(): Promise<void> } {
  const script =
    'end=$((SECONDS+240)); while [ $SECONDS -lt $end ]; do ' +
    `s=$(date +%s%3N); c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' ${URL_}); rc=$?; echo "$s $rc $c"; sleep 0.2; done`;
  const proc = background(lab.client.ns, 'bash', ['-c', script]);
  const results: ClientResult[] = [];
  let partial = '';
  proc.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + String(d)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const [at, rc, code] = line.trim().split(' ');
      if (at) results.push({ at: Number(at), ok: rc === '0' && code === '200' });
    }
  });
  const stop = () => stopBackground(proc);
  cleanup.add('client loop', stop);
  return { results, stop };
}

function summarize(results: readonly ClientResult[], from = 0, until = Infinity): { total: number; ok: number; rate: number } {
  const inRange = results.filter((r) => r.at >= from && r.at < until);
  const ok = inRange.filter((r) => r.ok).length;
  return { total: inRange.length, ok, rate: inRange.length ? ok / inRange.length : 0 };
}

interface Flood {
  startedAt: number;
  /** Resolves when hping3 has ended; `endedAt` is set then. */
  done: Promise<{ exitCode: number; stderr: string }>;
  endedAt?: number;
}

/** hping3 from the attacker namespace, always bounded by `timeout`. */
function flood(lab: Lab, seconds: number, hpingArgs: string[]): Flood {
  const f: Flood = {
    startedAt: Date.now(),
    done: Promise.resolve({ exitCode: 0, stderr: '' }),
  };
  f.done = lab
    .exec(lab.attacker.ns, 'timeout', ['-k', '2', String(seconds), 'hping3', ...hpingArgs, '--flood', VICTIM], {
      reject: false,
      timeoutMs: (seconds + 10) * 1000,
    })
    .then((r) => {
      f.endedAt = Date.now();
      return r;
    });
  return f;
}

interface NftElement {
  ip: string;
  /** Seconds until the kernel drops the element. */
  expires?: number;
}

// The parts of `nft -j` output read here.
type NftValue = string | { prefix?: { addr: string; len: number }; range?: [string, string] };
interface NftJson {
  nftables: {
    set?: { name: string; elem?: (NftValue | { elem: { val: NftValue; timeout?: number; expires?: number } })[] };
    counter?: { name: string; packets: number; bytes: number };
  }[];
}

function nftValueText(v: NftValue): string {
  if (typeof v === 'string') return v;
  if (v.prefix) return `${v.prefix.addr}/${v.prefix.len}`;
  return JSON.stringify(v);
}

/** Elements of `inet floodgate hosts4` (banned addresses) in the victim namespace, read with nft itself ([] when the table is absent). */
async function nftBlocked4(lab: Lab): Promise<NftElement[]> {
  const r = await lab.exec(lab.victim.ns, 'nft', ['-j', 'list', 'set', 'inet', 'floodgate', 'hosts4'], { reject: false });
  if (r.exitCode !== 0) return [];
  const out: NftElement[] = [];
  for (const item of (JSON.parse(r.stdout) as NftJson).nftables) {
    for (const e of item.set?.elem ?? []) {
      if (typeof e === 'object' && 'elem' in e) {
        out.push({ ip: nftValueText(e.elem.val), ...(e.elem.expires === undefined ? {} : { expires: e.elem.expires }) });
      } else {
        out.push({ ip: nftValueText(e) });
      }
    }
  }
  return out;
}

async function nftHas(lab: Lab, ip: string): Promise<NftElement | undefined> {
  return (await nftBlocked4(lab)).find((e) => e.ip === ip || e.ip === `${ip}/32`);
}

/** Packets counted by the named counter `dropped4`. */
async function dropped4(lab: Lab): Promise<number> {
  const r = await lab.exec(lab.victim.ns, 'nft', ['-j', 'list', 'counter', 'inet', 'floodgate', 'dropped4']);
  const counter = (JSON.parse(r.stdout) as NftJson).nftables.find((i) => i.counter)?.counter;
  assert.ok(counter, 'nft lists the dropped4 counter');
  return counter.packets;
}

interface Ban {
  cidr: string;
  source: string;
  reason: string;
  expiresAt: string;
  createdAt: string;
  durationSeconds: number;
  offenceCount: number;
}

async function blocks(agent: LabAgent): Promise<Ban[]> {
  const r = await agent.api<{ blocks: Ban[] }>('GET', '/v1/blocks');
  assert.equal(r.status, 200, `GET /v1/blocks answered ${r.status}`);
  return r.body.blocks;
}

async function startAgent(lab: Lab, cleanup: Cleanup, opts: Partial<LabAgentOptions> & { label: string }): Promise<LabAgent> {
  const { label, ...agentOpts } = opts;
  const agent = await startLabAgent(lab, { ns: lab.victim.ns, dev: lab.victim.dev, backend: 'nft', ...agentOpts });
  progress(`agent ${label} ready (pid ${agent.pid()}, state ${agent.stateDir})`);
  // A state dir made by startLabAgent is removed after the agent has stopped (cleanup runs in reverse).
  if (agentOpts.stateDir === undefined) cleanup.add(`state dir ${label}`, () => fs.promises.rm(agent.stateDir, { recursive: true, force: true }));
  cleanup.add(`agent ${label}`, () => stopAgent(agent));
  return agent;
}

/** SIGTERM, then SIGKILL if the agent has not exited after 10 s. */
async function stopAgent(agent: LabAgent): Promise<void> {
  const pid = agent.pid();
  const stopped = agent.stop('SIGTERM');
  const ok = await Promise.race([stopped.then(() => true), sleep(10_000).then(() => false)]);
  if (!ok && pid !== undefined) {
    progress(`agent ${pid} ignored SIGTERM for 10 s; killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await stopped;
  }
}

interface Rss {
  /** VmRSS: what `top` and a container's working set show. */
  total: number;
  /** RssAnon: mostly the V8 heap. */
  anon: number;
  /** RssFile: the node binary and libpcap's mmapped capture ring (capture.bufferSize, 64 MB by default). */
  file: number;
}

/** Resident memory of a process in MB, from /proc/<pid>/status. */
function rssOf(pid: number): Rss | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
    return { total: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return undefined;
  }
}

const fmtRss = (r: Rss) => `${r.total.toFixed(0)} MB (anon ${r.anon.toFixed(0)}, file ${r.file.toFixed(0)})`;

/** Records every CIDR the agent lists and nft holds, to prove the client is never banned. */
function watchBans(lab: Lab, agent: () => LabAgent | undefined): { seen: Set<string>; stop(): Promise<void> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const a = agent();
      if (a) {
        const r = await a.api<{ blocks: Ban[] }>('GET', '/v1/blocks').catch(() => undefined);
        for (const b of r?.status === 200 ? r.body.blocks : []) seen.add(b.cidr);
      }
      for (const e of await nftBlocked4(lab).catch(() => [])) seen.add(e.ip.includes('/') ? e.ip : `${e.ip}/32`);
      await sleep(400);
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/**
 * Run one test's body with its own teardown list, also on failure; a failure
 * prints the last log lines of every agent it started. The agent leaves its
 * nft table behind by design (bans survive restarts), so it is removed here
 * to start the next test clean.
 */
async function withTest(t: TestContext, lab: Lab, agents: LabAgent[], body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  signal = t.signal;
  const cleanup = new Cleanup();
  cleanup.add('nft table', () => lab.exec(lab.victim.ns, 'nft', ['delete', 'table', 'inet', 'floodgate'], { reject: false }));
  progress(`${t.name}: start`);
  try {
    await body(cleanup);
  } catch (err) {
    for (const a of agents) console.error(`--- agent pid ${a.pid()} log (last 30 lines) ---\n${a.logs().slice(-30).join('\n')}`);
    throw err;
  } finally {
    progress(`${t.name}: tearing down`);
    await cleanup.run();
  }
}

// ------------------------------------------------------------------ tests

describe('floodgate lab (real agent, nftables, hping3 floods)', () => {
  let lab: Lab | undefined;
  const fileCleanup = new Cleanup();
  const theLab = (): Lab => {
    if (!lab) throw new Error('the lab was not created (see the before hook)');
    return lab;
  };

  // One lab for the whole file: other lab users see the namespaces the whole time and wait.
  before(
    async () => {
      if (skipReason) return; // every test below is skipped with the reason
      await requireTools();
      await waitForLabFree();
      progress('creating the lab (victim .10, attacker .66, client .20 on 10.77.0.0/24)');
      lab = await createLab();
      const created = lab;
      fileCleanup.add('lab', () => created.destroy());
      await startHttpServer(created, fileCleanup);
    },
    { timeout: 240_000 },
  );

  after(async () => {
    if (!lab) return;
    progress('destroying the lab');
    await fileCleanup.run();
  });

  it('SYN and UDP floods: attacker banned by auto-defense, client served, ban expires on time and survives a restart', { skip: skipReason, timeout: 90_000 }, async (t) => {
    let agent: LabAgent | undefined;
    const agents: LabAgent[] = [];
    const lab = theLab();
    await withTest(t, lab, agents, async (cleanup) => {
      agent = await startAgent(lab, cleanup, {
        label: 'A',
        config: { autoDefense: { enabled: true, windowSeconds: 1, banDurationSeconds: BAN_SECONDS } },
      });
      agents.push(agent);
      const stateDir = agent.stateDir;
      const client = startClientLoop(lab, cleanup);
      const watcher = watchBans(lab, () => agent);
      cleanup.add('ban watcher', () => watcher.stop());
      await sleep(1000);
      assert.ok(await curlFrom(lab, lab.attacker.ns), 'the attacker reaches the server before any flood');
      assert.deepEqual(await blocks(agent), [], 'no bans before the flood');

      // ---- phase 1: SYN flood
      progress('phase 1: SYN flood (hping3 -S -p 80 --flood) for 5 s');
      const syn = flood(lab, 5, ['-S', '-p', '80']);
      const ban1 = await waitFor('auto-defense to ban the SYN flooder', 4000, async () =>
        (await blocks(agent!)).find((b) => b.cidr === ATTACKER_CIDR),
      );
      progress(`banned ${ban1.cidr} (${ban1.reason}) until ${ban1.expiresAt}`);
      assert.equal(ban1.source, 'auto');
      assert.equal(ban1.durationSeconds, BAN_SECONDS);
      assert.ok(await nftHas(lab, ATTACKER), `nft set inet floodgate hosts4 holds ${ATTACKER}`);
      const dropsBefore = await dropped4(lab);
      await sleep(1000);
      const afterDrops = await dropped4(lab);
      progress(`dropped4: ${dropsBefore} -> ${afterDrops} packets in ~1 s`);
      assert.ok(afterDrops - dropsBefore > 1000, `dropped4 rises during the flood (${dropsBefore} -> ${afterDrops})`);
      assert.equal(await curlFrom(lab, lab.attacker.ns), false, "the attacker's own curl fails while it is banned");
      await syn.done;
      const synEnd = syn.endedAt!;

      // Ban not lifted early, then gone from the API and nft soon after expiresAt.
      const expires1 = Date.parse(ban1.expiresAt);
      if (expires1 - Date.now() > 1500) {
        await sleep(expires1 - 1500 - Date.now());
        assert.ok((await blocks(agent)).some((b) => b.cidr === ATTACKER_CIDR), 'ban still listed 1.5 s before it expires');
        assert.ok(await nftHas(lab, ATTACKER), 'ban still in nft 1.5 s before it expires');
      }
      progress('waiting for the ban to expire');
      await waitFor('the ban to leave GET /v1/blocks and nft within 2.5 s of expiresAt', expires1 + 2500 - Date.now(), async () =>
        !(await blocks(agent!)).some((b) => b.cidr === ATTACKER_CIDR) && !(await nftHas(lab, ATTACKER)) ? true : undefined,
      );
      progress(`ban gone ${((Date.now() - expires1) / 1000).toFixed(1)} s after expiresAt`);
      await waitFor("the attacker's curl to work again after expiry", 5000, async () => ((await curlFrom(lab, lab.attacker.ns)) ? true : undefined));

      // ---- phase 2: UDP flood, agent restart mid-ban
      progress('phase 2: UDP flood (hping3 -2 -p 53 --flood) for 5 s');
      const udp = flood(lab, 5, ['-2', '-p', '53']);
      const ban2 = await waitFor('auto-defense to ban the UDP flooder', 4000, async () =>
        (await blocks(agent!)).find((b) => b.cidr === ATTACKER_CIDR),
      );
      progress(`banned again (${ban2.reason}), offence ${ban2.offenceCount}, until ${ban2.expiresAt}`);
      assert.equal(ban2.source, 'auto');
      assert.equal(ban2.offenceCount, 2, 'a second ban within the escalation window counts as a second offence');
      assert.ok(ban2.durationSeconds >= BAN_SECONDS);
      assert.ok(await nftHas(lab, ATTACKER), 'nft holds the attacker again');

      progress('stopping agent A with SIGTERM while the ban is active');
      const stopping = agent;
      agent = undefined;
      const stopStart = Date.now();
      await stopAgent(stopping);
      progress(`agent A stopped after ${((Date.now() - stopStart) / 1000).toFixed(1)} s`);
      assert.ok(stopping.logs().some((l) => l.includes('floodgate agent stopped')), 'agent A shut down cleanly on SIGTERM');
      assert.ok(await nftHas(lab, ATTACKER), 'the nft element stays while no agent runs');
      const d1 = await dropped4(lab);
      await sleep(500);
      const d2 = await dropped4(lab);
      if (!udp.endedAt) assert.ok(d2 > d1, `the kernel keeps dropping without the agent (${d1} -> ${d2})`);

      const agentB = await startAgent(lab, cleanup, {
        label: 'B',
        stateDir,
        config: { autoDefense: { enabled: true, windowSeconds: 1, banDurationSeconds: BAN_SECONDS } },
      });
      agents.push(agentB);
      agent = agentB;
      const restored = (await blocks(agentB)).find((b) => b.cidr === ATTACKER_CIDR);
      assert.ok(restored, 'agent B lists the ban made by agent A');
      assert.equal(restored.expiresAt, ban2.expiresAt, 'the restored ban keeps its expiresAt');
      assert.equal(restored.source, 'auto');
      const element = await nftHas(lab, ATTACKER);
      assert.ok(element, 'nft still holds the attacker after the restart');
      const expires2 = Date.parse(ban2.expiresAt);
      if (element.expires !== undefined) {
        const kernelEnd = Date.now() + element.expires * 1000;
        assert.ok(Math.abs(kernelEnd - expires2) < 3000, `nft timeout ends with the ban (kernel ${new Date(kernelEnd).toISOString()}, ban ${ban2.expiresAt})`);
      }
      assert.equal(await curlFrom(lab, lab.attacker.ns), false, "the attacker's curl still fails after the restart");
      await udp.done;
      const udpEnd = udp.endedAt!;

      progress(`waiting for the restored ban to expire at ${ban2.expiresAt}`);
      await waitFor('the restored ban to leave GET /v1/blocks and nft within 2.5 s of expiresAt', Math.max(0, expires2 + 2500 - Date.now()), async () =>
        !(await blocks(agentB)).some((b) => b.cidr === ATTACKER_CIDR) && !(await nftHas(lab, ATTACKER)) ? true : undefined,
      );
      await waitFor("the attacker's curl to work again after the restored ban expired", 5000, async () =>
        (await curlFrom(lab, lab.attacker.ns)) ? true : undefined,
      );

      // ---- the benign client
      await sleep(1500); // a few more client requests after everything is over
      await client.stop();
      await watcher.stop();
      const all = summarize(client.results);
      const during1 = summarize(client.results, syn.startedAt, synEnd);
      const during2 = summarize(client.results, udp.startedAt, udpEnd);
      const afterAll = client.results.filter((r) => r.at > udpEnd);
      progress(
        `client: ${all.ok}/${all.total} ok overall; SYN flood ${during1.ok}/${during1.total}; UDP flood ${during2.ok}/${during2.total}; ` +
          `bans seen: ${[...watcher.seen].join(', ') || 'none'}`,
      );
      assert.ok(!watcher.seen.has(CLIENT_CIDR), 'the client is never banned (API or nft)');
      assert.deepEqual([...watcher.seen].filter((c) => c !== ATTACKER_CIDR), [], 'nothing but the attacker is ever banned');
      assert.ok(all.total >= 30, `the client loop ran (${all.total} requests)`);
      assert.ok(all.rate >= 0.9, `>= 90% of the client's requests succeed (${all.ok}/${all.total})`);
      assert.ok(during1.ok >= 1 && during1.rate >= 0.6, `the client is served during the SYN flood (${during1.ok}/${during1.total})`);
      assert.ok(during2.ok >= 1 && during2.rate >= 0.6, `the client is served during the UDP flood (${during2.ok}/${during2.total})`);
      assert.ok(afterAll.length >= 3 && afterAll.slice(-3).every((r) => r.ok), 'the client succeeds after the floods');
    });
  });

  it('spoofed SYN flood: bounded agent memory, no mass bans, syn_flood verdict that needs a signature rule', { skip: skipReason, timeout: 60_000 }, async (t) => {
    const agents: LabAgent[] = [];
    const lab = theLab();
    await withTest(t, lab, agents, async (cleanup) => {
      const agent = await startAgent(lab, cleanup, {
        label: 'spoof',
        config: { autoDefense: { enabled: true, windowSeconds: 1, banDurationSeconds: 60 } },
      });
      agents.push(agent);
      const pid = agent.pid()!;
      assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /floodgate/, 'pid() is the agent process itself');
      const rssBefore = rssOf(pid)!;

      progress('spoofed SYN flood (hping3 -S --rand-source -p 80 --flood) for 6 s');
      const f = flood(lab, 6, ['-S', '--rand-source', '-p', '80']);
      let rssMax = rssBefore;
      const sampleRss = () => {
        const r = rssOf(pid);
        if (r && r.total > rssMax.total) rssMax = r;
      };
      const sampler = setInterval(() => {
        sampleRss();
      }, 200);
      cleanup.add('rss sampler', async () => clearInterval(sampler));

      // Ask while the flood runs; a loaded 2-core box may need a second look. The
      // default victim threshold is 20k pps: when hping3 cannot reach it here (the
      // capture measured less), the same question is asked with a 5k pps threshold,
      // so a slow generator does not hide a wrong vector or signature verdict.
      type Victim = { ip: string; vector: string; signatureRuleNeeded: boolean; pps: number; distinctSources: number; note: string };
      type Analysis = { verdict: { victims: Victim[]; totals: { pps: number }; drops: unknown } };
      let victim: Victim | undefined;
      let lowered = false;
      let lastVerdict = '';
      const analyze = async (body: object): Promise<Analysis> => {
        const r = await agent.api<Analysis>('POST', '/v1/analyze', body);
        assert.equal(r.status, 200, `POST /v1/analyze answered ${r.status}`);
        const v = r.body.verdict;
        lastVerdict = JSON.stringify({ request: body, totals: v.totals, drops: v.drops, victims: v.victims });
        return r.body;
      };
      const synVictim = (a: Analysis) => a.verdict.victims.find((v) => v.ip === VICTIM && v.vector === 'syn_flood');
      await sleep(2500);
      for (let i = 0; i < 3 && !victim && !f.endedAt; i++) {
        const a = await analyze({ windowSeconds: 2 });
        victim = synVictim(a);
        if (!victim && a.verdict.totals.pps < 20_000) {
          progress(`the capture saw only ${Math.round(a.verdict.totals.pps)} pps (< 20k default victim threshold): asking with victimPpsThreshold 5000`);
          victim = synVictim(await analyze({ windowSeconds: 2, thresholds: { victimPpsThreshold: 5000 } }));
          lowered = victim !== undefined;
        }
        if (!victim) await sleep(800);
      }
      const during = await blocks(agent);
      await f.done;
      clearInterval(sampler);
      sampleRss();
      await sleep(1000); // let auto-defense judge the last slots
      const afterFlood = await blocks(agent);
      progress(
        `verdict${lowered ? ' (victimPpsThreshold 5000)' : ''}: ${victim ? `${victim.vector} ${Math.round(victim.pps)} pps from ~${victim.distinctSources} sources, signatureRuleNeeded=${victim.signatureRuleNeeded}` : 'no syn_flood victim'}; ` +
          `RSS ${fmtRss(rssBefore)} -> max ${fmtRss(rssMax)}; bans during/after: ${during.length}/${afterFlood.length}`,
      );

      assert.ok(victim, `POST /v1/analyze during the flood reports ${VICTIM} as a syn_flood victim: ${lastVerdict.slice(0, 800)}`);
      assert.equal(victim.signatureRuleNeeded, true, `a spoofed flood needs the signature rule (${victim.note})`);
      for (const list of [during, afterFlood]) {
        assert.ok(list.length <= 3, `no mass bans from spoofed sources (${list.length}: ${list.map((b) => b.cidr).join(', ')})`);
        for (const b of list) assert.ok(![CLIENT_CIDR, `${VICTIM}/32`].includes(b.cidr), `never bans ${b.cidr}`);
      }
      assert.ok(await curlFrom(lab, lab.client.ns), 'the client is served after the spoofed flood');
      // Last, so the checks above still report when this one fails. At idle VmRSS is ~155 MB:
      // libpcap's 64 MB capture ring and ~45 MB of node binary (both RssFile) plus ~45 MB
      // anon; what a flood adds is V8 heap (the slot ring's per-source objects, analysis garbage).
      assert.ok(rssMax.total < 200, `agent VmRSS stays under 200 MB during the flood (idle ${fmtRss(rssBefore)}, max ${fmtRss(rssMax)})`);
    });
  });

  it("seed compatibility: POST /trigger-defense during a SYN flood bans the attacker (auto-defense off)", { skip: skipReason, timeout: 60_000 }, async (t) => {
    const agents: LabAgent[] = [];
    const lab = theLab();
    await withTest(t, lab, agents, async (cleanup) => {
      const agent = await startAgent(lab, cleanup, { label: 'manual', autoDefense: false, config: { autoDefense: { enabled: false } } });
      agents.push(agent);

      progress('SYN flood for 6 s against an agent without auto-defense');
      const f = flood(lab, 6, ['-S', '-p', '80']);
      await sleep(2500);
      assert.deepEqual(await blocks(agent), [], 'with auto-defense off nothing is banned on its own');

      const r = await agent.api<{
        under_attack: boolean;
        ip: string | null;
        ip_counts: Record<string, number>;
        banned: Ban[];
        refused: unknown[];
      }>('POST', '/trigger-defense', { wait_time: 2, thresholdAttacker: 0.2, ban_duration: 30 });
      progress(`trigger-defense: ${r.status} under_attack=${r.body?.under_attack} ip=${r.body?.ip} banned=${r.body?.banned?.map((b) => b.cidr).join(',')}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.under_attack, true, 'under_attack is true during the flood');
      assert.equal(r.body.ip, ATTACKER, 'the seed field "ip" names the attacker');
      assert.ok((r.body.ip_counts[ATTACKER] ?? 0) > 1000, `ip_counts counts the attacker's packets (${r.body.ip_counts[ATTACKER]})`);
      const ban = r.body.banned.find((b) => b.cidr === ATTACKER_CIDR);
      assert.ok(ban, 'the response lists the ban');
      assert.equal(ban.durationSeconds, 30, 'ban_duration is honoured');
      assert.equal(ban.source, 'api');
      assert.deepEqual(r.body.banned.map((b) => b.cidr), [ATTACKER_CIDR], 'only the attacker is banned');

      assert.ok((await blocks(agent)).some((b) => b.cidr === ATTACKER_CIDR), 'GET /v1/blocks lists the ban');
      assert.ok(await nftHas(lab, ATTACKER), 'nft holds the attacker');
      const d1 = await dropped4(lab);
      await sleep(700);
      const d2 = await dropped4(lab);
      if (!f.endedAt) assert.ok(d2 - d1 > 500, `dropped4 rises while the flood goes on (${d1} -> ${d2})`);
      assert.equal(await curlFrom(lab, lab.attacker.ns), false, "the attacker's curl fails while banned");
      await f.done;

      // Unban through the API: gone from nft at once and the attacker is served again.
      const del = await agent.api<{ removed: boolean }>('DELETE', `/v1/blocks/${ATTACKER}`);
      assert.equal(del.status, 200);
      assert.equal(del.body.removed, true);
      assert.equal(await nftHas(lab, ATTACKER), undefined, 'DELETE /v1/blocks removes the nft element');
      assert.deepEqual(await blocks(agent), []);
      await waitFor("the attacker's curl to work after the unban", 5000, async () => ((await curlFrom(lab, lab.attacker.ns)) ? true : undefined));
    });
  });
});
