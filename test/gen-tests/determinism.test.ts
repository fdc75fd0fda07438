// Same seed, same bytes: scenarios, bench captures and the PRNG itself.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeBenchCapture } from '../gen/bench-capture.js';
import { Prng, mix32 } from '../gen/prng.js';
import { writeScenario } from '../gen/scenarios.js';
import { tempDir } from './helpers.js';

const { dir, cleanup } = tempDir('determinism');
after(cleanup);
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('determinism', () => {
  it('a scenario written twice with the same seed is byte-identical, another seed differs', () => {
    const firstDir = join(dir, 'first');
    mkdirSync(firstDir);
    const a = writeScenario('single-source-flood', firstDir);
    const hashA = sha(a.capturePath);
    const truthA = readFileSync(a.truthPath, 'utf8');
    const b = writeScenario('single-source-flood', dir);
    assert.equal(sha(b.capturePath), hashA);
    assert.equal(readFileSync(b.truthPath, 'utf8'), truthA);
    const c = writeScenario('single-source-flood', dir, { seed: 12345 });
    assert.notEqual(sha(c.capturePath), hashA);
    // Ground truth that does not depend on the seed stays put.
    assert.equal(c.truth.inboundPackets, a.truth.inboundPackets);
    assert.deepEqual(c.truth.attackers, a.truth.attackers);
  });

  it('bench captures repeat exactly per seed', () => {
    const run = (file: string, seed?: number): string => sha(writeBenchCapture(join(dir, file), { packets: 30_000, seed, progress: false }).path);
    const first = run('b1.pcap');
    assert.equal(run('b2.pcap'), first);
    assert.notEqual(run('b3.pcap', 7), first);
  });

  it('the PRNG sequence is fixed (mulberry32)', () => {
    const p = new Prng(1);
    // First outputs of the reference mulberry32(1): 0.6270739405881613 * 2^32, ...
    assert.deepEqual([p.nextUint32(), p.nextUint32(), p.nextUint32()], [2_693_262_067, 11_749_833, 2_265_367_787]);
    const a = new Prng(42);
    const b = new Prng(42);
    for (let i = 0; i < 1000; i++) assert.equal(a.next(), b.next());
  });

  it('mix32 is a bijection on a sample (no collisions among 200k inputs)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200_000; i++) seen.add(mix32(i));
    assert.equal(seen.size, 200_000);
  });
});
