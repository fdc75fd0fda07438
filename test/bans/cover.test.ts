// The indexes behind a 10,000-ban batch: the never-block overlap index and
// the "covered by a broader ban" index must answer exactly what a scan of
// every CIDR answers, for any mix of prefixes and both families.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrIndex } from '../../agent/bans/cover.js';
import { RangeIndex } from '../../agent/bans/range-index.js';
import { cidrContains, cidrOverlaps, formatCidr, type ParsedCidr, parseCidr } from '../../lib/cidr.js';

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Random CIDRs crowded into a few /8s (v4) or one /32 (v6), so overlaps are common. */
function randomCidr(next: () => number, family: 4 | 6): string {
  const pick = (n: number) => Math.floor(next() * n);
  if (family === 4) {
    const prefix = [0, 8, 12, 16, 20, 24, 28, 31, 32, 32, 32][pick(11)] ?? 32;
    return `${[10, 100, 203, 255][pick(4)]}.${pick(4)}.${pick(256)}.${pick(256)}/${prefix}`;
  }
  const prefix = [16, 32, 48, 56, 64, 64, 100, 127, 128][pick(9)] ?? 64;
  return `2001:db8:${pick(4).toString(16)}:${pick(65536).toString(16)}::${pick(65536).toString(16)}/${prefix}`;
}

const parse = (text: string): ParsedCidr => {
  const c = parseCidr(text);
  assert.ok(c, text);
  return c;
};

describe('ban indexes', () => {
  it('RangeIndex.overlaps agrees with a scan of every protected CIDR', () => {
    const next = random(11);
    for (let round = 0; round < 20; round++) {
      const protectedCidrs = Array.from({ length: 1 + Math.floor(next() * 300) }, () => parse(randomCidr(next, next() < 0.7 ? 4 : 6)));
      const index = new RangeIndex(protectedCidrs);
      for (let i = 0; i < 500; i++) {
        const probe = parse(randomCidr(next, next() < 0.7 ? 4 : 6));
        const expected = protectedCidrs.some((p) => cidrOverlaps(p, probe));
        assert.equal(index.overlaps(probe), expected, `${formatCidr(probe)} against ${protectedCidrs.length} CIDRs`);
      }
    }
  });

  it('RangeIndex handles the ends of the address space and adjacent ranges', () => {
    const index = new RangeIndex(['0.0.0.0/8', '255.255.255.255/32', '10.0.0.0/24', '10.0.1.0/24', '::/128', 'ffff::/16'].map(parse));
    for (const [probe, expected] of [
      ['0.255.255.255', true], ['1.0.0.0', false], ['255.255.255.254', false], ['255.255.255.255', true], ['255.0.0.0/8', true],
      ['10.0.0.0/23', true], ['10.0.2.0/24', false], ['9.255.255.255', false], ['0.0.0.0/0', true],
      ['::1', false], ['::', true], ['ffff:ffff::1', true], ['fffe::/16', false],
    ] as const) {
      assert.equal(index.overlaps(parse(probe)), expected, probe);
    }
    assert.equal(new RangeIndex([]).overlaps(parse('10.0.0.1')), false);
  });

  it('CidrIndex.coveredBy names the broadest other CIDR that contains it, like a scan', () => {
    const next = random(5);
    for (let round = 0; round < 20; round++) {
      const cidrs = [...new Set(Array.from({ length: 1 + Math.floor(next() * 400) }, () => parse(randomCidr(next, next() < 0.7 ? 4 : 6)).text))];
      const index = new CidrIndex(cidrs);
      for (const text of [...cidrs, ...Array.from({ length: 200 }, () => parse(randomCidr(next, next() < 0.7 ? 4 : 6)).text)]) {
        const probe = parse(text);
        const covering = cidrs
          .map(parse)
          .filter((c) => c.prefix < probe.prefix && cidrContains(c, probe))
          .sort((a, b) => a.prefix - b.prefix);
        assert.equal(index.coveredBy(text), covering[0]?.text, text);
      }
    }
  });
});
