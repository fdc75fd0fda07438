// The test tiers a developer can run alone (docs/testing.md):
//   unit       no API server, no root, no network namespaces: seconds to a minute;
//   apiserver  starts the test kube-apiserver (test/control-plane), some also
//              need root to capture on loopback;
//   lab        needs root: network namespaces, nftables/iptables, live capture,
//              hping3; no API server.
//   cluster    Docker, the images and the one-node cluster (test/cluster/node.ts):
//              builds images and starts a kubelet; root.
// A test file's tier follows from what it imports at run time (compiled,
// so type-only imports do not count) within test/: reaching the control-plane
// helper makes it apiserver; reaching a netns helper, or checking for root,
// makes it lab. OVERRIDES holds the few files where that reading is wrong.
//
//   node dist/test/tiers.js <unit|apiserver|lab|all> [--list] [node --test flags...]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { moduleSpecifiers } from './support/imports.js';

export type Tier = 'unit' | 'apiserver' | 'lab' | 'cluster';
export const TIERS: readonly Tier[] = ['unit', 'apiserver', 'lab', 'cluster'];

const DIST_TEST = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(DIST_TEST, '..', '..');

/** Test helpers whose import puts a file in a tier (paths under dist/test). */
const NEEDS_CLUSTER = ['cluster/node.js'];
const NEEDS_APISERVER = ['control-plane/control-plane.js'];
const NEEDS_ROOT = ['support/netns.js', 'firewall/netns.js', 'lab/lab-network.js', 'lab/lab-agent.js'];

/** Files the import reading gets wrong (relative to dist/test). */
const OVERRIDES: Readonly<Record<string, Tier>> = {
  // Imports e2e-env for its agent launcher only: a real agent capturing on lo (root), no API server.
  'contract/agent-client.test.js': 'lab',
};

function runtimeImports(file: string): string[] {
  return moduleSpecifiers(fs.readFileSync(file, 'utf8'))
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => path.resolve(path.dirname(file), spec));
}

/** The test-tree modules `file` reaches at run time (itself included). */
function reach(file: string): Set<string> {
  const seen = new Set<string>();
  const queue = [file];
  while (queue.length) {
    const f = queue.pop()!;
    if (seen.has(f) || !f.startsWith(DIST_TEST) || !fs.existsSync(f)) continue;
    seen.add(f);
    queue.push(...runtimeImports(f));
  }
  return seen;
}

export function tierOf(file: string): Tier {
  const rel = path.relative(DIST_TEST, file).split(path.sep).join('/');
  const override = OVERRIDES[rel];
  if (override) return override;
  const reached = [...reach(file)].map((f) => path.relative(DIST_TEST, f).split(path.sep).join('/'));
  if (reached.some((r) => NEEDS_CLUSTER.includes(r))) return 'cluster';
  if (reached.some((r) => NEEDS_APISERVER.includes(r))) return 'apiserver';
  if (reached.some((r) => NEEDS_ROOT.includes(r)) || /\bprocess\.getuid\b/.test(fs.readFileSync(file, 'utf8'))) return 'lab';
  return 'unit';
}

export function testFiles(): string[] {
  return (fs.readdirSync(DIST_TEST, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => path.join(DIST_TEST, f))
    .sort();
}

export function filesOf(tier: Tier | 'all'): string[] {
  return testFiles().filter((f) => tier === 'all' || tierOf(f) === tier);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [tier, ...rest] = process.argv.slice(2);
  if (tier !== 'all' && !TIERS.includes(tier as Tier)) {
    console.error(`usage: node dist/test/tiers.js <${TIERS.join('|')}|all> [--list] [node --test flags]`);
    process.exit(2);
  }
  const files = filesOf(tier as Tier | 'all');
  if (rest.includes('--list')) {
    for (const f of files) console.log(`${tierOf(f).padEnd(9)} ${path.relative(ROOT, f)}`);
    process.exit(0);
  }
  const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...rest, ...files], { stdio: 'inherit', cwd: ROOT });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
