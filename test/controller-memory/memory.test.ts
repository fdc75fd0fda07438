// Memory triggering. Which path is covered how:
// - cgroup v1: REAL cgroup files — a child memory cgroup with a 64 MiB limit and a
//   process allocating inside it (this machine's v1 memory hierarchy);
// - cgroup v2: the files' real format in a temp dir, because this machine's v2
//   mount has no memory controller (so no memory.current exists there);
// - metrics.k8s.io and the kubelet Summary API: captured JSON fixtures
//   (test/fixtures/metrics), since the test control plane runs no kubelet.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { cgroupReading, readCgroupMemory } from '../../controller/memory/cgroup-memory.js';
import { readingFromPodMetrics, type PodMetrics } from '../../controller/memory/metrics-api-source.js';
import { readingFromSummary, type KubeletSummary } from '../../controller/memory/kubelet-summary-source.js';
import { aboveThreshold, MemoryMonitor } from '../../controller/memory/memory-monitor.js';
import { MemorySourceUnavailable } from '../../controller/memory/memory-reading.js';
import { podMemoryLimit } from '../../controller/memory/pod-memory-limit.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/metrics/', import.meta.url));
const MiB = 1024 * 1024;

function pod(limits: (string | undefined)[], name = 'web-7d4b9c8f6d-x2kqp'): V1Pod {
  return {
    metadata: { name, namespace: 'shop', uid: '2d1c0f6e-4b1a-4c39-9a8e-3f0b6f9c1a11' },
    spec: {
      nodeName: 'k3d-floodgate-agent-0',
      containers: limits.map((l, i) => ({ name: `c${i}`, resources: l ? { limits: { memory: l } } : {} })),
    },
  };
}

/** This process's own v1 memory cgroup directory, if the v1 memory hierarchy is mounted. */
function ownMemoryCgroup(): string | undefined {
  const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l));
  const dir = line ? path.join('/sys/fs/cgroup/memory', line.split(':')[2]!) : undefined;
  return dir && fs.existsSync(path.join(dir, 'memory.usage_in_bytes')) ? dir : undefined;
}

describe('cgroup v1, real files', () => {
  const parent = ownMemoryCgroup();
  const skip = !parent || process.getuid?.() !== 0 ? 'needs root and the cgroup v1 memory hierarchy' : false;
  const child = parent ? path.join(parent, `floodgate-test-${process.pid}`) : '';
  let hog: ResultPromise | undefined;

  before(async () => {
    if (skip) return;
    fs.mkdirSync(child);
    fs.writeFileSync(path.join(child, 'memory.limit_in_bytes'), String(64 * MiB));
    // A process that touches 40 MiB and waits; it joins the cgroup before allocating.
    hog = execa('sh', ['-c', `echo $$ > ${child}/cgroup.procs && exec ${process.execPath} -e "const b=Buffer.alloc(40*1024*1024,1); console.log('ready'); setInterval(()=>b[0]++,1000)"`], { reject: false });
    await new Promise<void>((resolve) => hog!.stdout!.on('data', () => resolve()));
  });

  after(async () => {
    if (skip) return;
    hog?.kill('SIGKILL');
    await hog;
    for (let i = 0; i < 50 && fs.existsSync(child); i++) {
      try {
        fs.rmdirSync(child);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  it('reads usage against a real limit and triggers above the threshold', { skip }, async () => {
    const r = await cgroupReading('shop/web', child);
    assert.equal(r.limitBytes, 64 * MiB);
    assert.ok(r.usageBytes > 40 * MiB, `usage ${r.usageBytes}`);
    assert.ok(r.percent! > 60 && r.percent! <= 100, `percent ${r.percent}`);
    assert.equal(aboveThreshold(r, 50), true);
    assert.equal(aboveThreshold(r, 99.9), false);
    assert.equal((await readCgroupMemory(child)).version, 1);
  });

  it('treats the unlimited parent as no percentage, so it never triggers', { skip }, async () => {
    const r = await cgroupReading('host', parent!);
    if (r.limitBytes !== null) return; // a limited parent cannot show this case
    assert.equal(r.percent, null);
    assert.equal(aboveThreshold(r, 0), false);
  });
});

describe('cgroup v2 file format', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-cgv2-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads memory.current against memory.max', async () => {
    fs.writeFileSync(path.join(dir, 'memory.current'), `${300 * MiB}\n`);
    fs.writeFileSync(path.join(dir, 'memory.max'), `${400 * MiB}\n`);
    const r = await cgroupReading('shop/web', dir);
    assert.equal(r.percent, 75);
    assert.equal(aboveThreshold(r, 75), true);
  });

  it('"max" means no limit: no percentage, never a trigger (the seed silently never fired)', async () => {
    fs.writeFileSync(path.join(dir, 'memory.max'), 'max\n');
    const r = await cgroupReading('shop/web', dir);
    assert.equal(r.limitBytes, null);
    assert.equal(r.percent, null);
    assert.equal(aboveThreshold(r, 1), false);
  });

  it('a directory without memory files is unavailable, with the reason', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-cg-empty-'));
    await assert.rejects(readCgroupMemory(empty), (e: Error) => e instanceof MemorySourceUnavailable && /neither memory.current/.test(e.message));
    fs.rmSync(empty, { recursive: true });
  });

  it('garbage in a memory file is an error, not a number', async () => {
    fs.writeFileSync(path.join(dir, 'memory.current'), 'lots\n');
    await assert.rejects(readCgroupMemory(dir), /expected a byte count/);
  });
});

describe('metrics.k8s.io and kubelet fixtures', () => {
  const metrics = JSON.parse(fs.readFileSync(path.join(fixtures, 'podmetrics-web.json'), 'utf8')) as PodMetrics;
  const summary = JSON.parse(fs.readFileSync(path.join(fixtures, 'kubelet-summary.json'), 'utf8')) as KubeletSummary;

  it('sums container usage and compares with the sum of container limits', () => {
    const r = readingFromPodMetrics(metrics, pod(['512Mi', '64Mi']));
    assert.equal(r.usageBytes, 400 * MiB + 24 * MiB);
    assert.equal(r.limitBytes, 576 * MiB);
    assert.ok(Math.abs(r.percent! - (424 / 576) * 100) < 1e-9);
    assert.equal(r.source, 'metrics-api');
  });

  it('a container without a limit leaves the pod unbounded: no percentage', () => {
    assert.equal(podMemoryLimit(pod(['512Mi', undefined])), null);
    assert.equal(readingFromPodMetrics(metrics, pod(['512Mi', undefined])).percent, null);
  });

  it('reads the pod from a kubelet summary', () => {
    const r = readingFromSummary(summary, pod(['1Gi']));
    assert.equal(r.usageBytes, 448790528);
    assert.ok(Math.abs(r.percent! - (448790528 / 1073741824) * 100) < 1e-9);
    assert.throws(() => readingFromSummary(summary, pod(['1Gi'], 'gone-0')), MemorySourceUnavailable);
  });

  it('the monitor falls through unavailable sources in order and says why', async () => {
    const m = new MemoryMonitor([
      ['metrics-api', async () => { throw new MemorySourceUnavailable('no metrics-server'); }],
      ['kubelet', async (p) => readingFromSummary(summary, p)],
    ]);
    const r = await m.read(pod(['1Gi']));
    assert.equal(r.reading?.source, 'kubelet');
    assert.equal(r.unavailable['metrics-api'], 'no metrics-server');
  });
});
