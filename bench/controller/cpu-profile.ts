// Summarise a V8 .cpuprofile (node --cpu-prof) of the controller process:
// self time by area (GC, client-node, JSON, TLS/HTTP, floodgate code, ...),
// the top functions by self time, and floodgate functions by inclusive time
// (synchronous stacks only: work after an await is charged to the callback).
// A wall-clock window restricts it to one section of the bench.
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  windowMs: number;
  byArea: [string, number][];
  topSelf: [string, number][];
  topInclusive: [string, number][];
}

function area(cf: CallFrame): string {
  const { url, functionName } = cf;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    if (/^(parse|stringify)$/.test(functionName)) return `JSON.${functionName}`;
    return `native: ${functionName || '(anonymous)'}`;
  }
  const nm = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm ${nm[1]}`;
  const fg = /\/dist\/(controller|agent|cli|native)\/([^/]+)/.exec(url);
  if (fg) return `floodgate ${fg[1]}/${fg[2]!.replace(/\.js$/, '')}`;
  const nodeMod = /^node:(internal\/)?([a-z_]+)/.exec(url);
  if (nodeMod) return `node ${nodeMod[2]}`;
  return url;
}

const label = (cf: CallFrame) => {
  const file = cf.url ? path.basename(cf.url.replace(/^file:\/\//, '')) : '';
  return `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
};

/**
 * exitWallMs: Date.now() when the process ended (the profile's endTime);
 * window: the wall-clock range to keep (Date.now() values).
 */
export function summariseProfile(file: string, exitWallMs: number, window?: { from: number; to: number }): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const toWall = (us: number) => exitWallMs - (p.endTime - us) / 1000;

  const self = new Map<number, number>();
  let t = p.startTime;
  let windowMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const w = toWall(t);
    if (window && (w < window.from || w > window.to)) continue;
    const d = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + d);
    windowMs += d;
  }

  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const a = area(n.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + ms);
    const l = label(n.callFrame);
    fns.set(l, (fns.get(l) ?? 0) + ms);
    const onStack = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (/\/dist\/(controller|agent)\//.test(cf.url)) onStack.add(label(cf));
    }
    for (const l2 of onStack) incl.set(l2, (incl.get(l2) ?? 0) + ms);
  }
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
  return {
    file,
    totalMs: (p.endTime - p.startTime) / 1000,
    windowMs,
    byArea: top(areas, 14),
    topSelf: top(fns, 15),
    topInclusive: top(incl, 12),
  };
}

export function formatProfile(s: ProfileSummary, who: string, what: string): string[] {
  const busy = s.byArea.filter(([a]) => a !== 'idle').reduce((x, [, ms]) => x + ms, 0);
  const pct = (ms: number) => `${((ms / Math.max(1, s.windowMs)) * 100).toFixed(1)}%`.padStart(6);
  return [
    `CPU profile of the ${who} (${what}): ${path.basename(s.file)}, ${(s.windowMs / 1000).toFixed(1)} s of samples, busy (not idle) ${(busy / 1000).toFixed(1)} s`,
    '  self time by area:',
    ...s.byArea.map(([a, ms]) => `    ${pct(ms)}  ${(ms / 1000).toFixed(2).padStart(7)} s  ${a}`),
    '  top functions, self time:',
    ...s.topSelf.map(([f, ms]) => `    ${pct(ms)}  ${f}`),
    '  floodgate functions, inclusive (synchronous part):',
    ...s.topInclusive.map(([f, ms]) => `    ${pct(ms)}  ${f}`),
  ];
}
