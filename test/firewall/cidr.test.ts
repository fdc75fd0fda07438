// The address parser every firewall command and ban decision goes through.
// Its IPv4 fast path must accept exactly what Node's net.isIP accepts, and
// the canonical text it memoises must be what formatCidr() would write.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { canonicalCidr, formatCidr, parseAddress, parseCidr } from '../../lib/cidr.js';

/** Seeded so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const TRICKY_V4 = [
  '0.0.0.0', '255.255.255.255', '1.2.3.4', '01.2.3.4', '1.2.3.04', '1.2.3.256', '1.2.3', '1.2.3.4.5', '1..3.4',
  '.1.2.3', '1.2.3.', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.-4', '1.2.3.+4', '1.2.3.4\n', '0x7f.0.0.1', '1e2.0.0.1', '١.2.3.4',
  '999.1.1.1', '1.2.3.0004', '00.0.0.0', '127.1', '', '.', '...', '1.2.3.4/32', '2130706433',
];

function randomCandidate(next: () => number): string {
  const alphabet = '0123456789.....:/x ';
  const length = 1 + Math.floor(next() * 17);
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(next() * alphabet.length)];
  return text;
}

describe('cidr parsing', () => {
  it('accepts exactly the IPv4 addresses net.isIP accepts, with the same bytes', () => {
    const next = random(7);
    const candidates = [...TRICKY_V4];
    for (let i = 0; i < 20_000; i++) candidates.push(randomCandidate(next));
    // Well-formed and near-miss dotted quads, octets 0-299 with and without padding.
    for (let i = 0; i < 20_000; i++) {
      const octet = () => {
        const v = Math.floor(next() * 300);
        return next() < 0.1 ? `0${v}` : String(v);
      };
      candidates.push(`${octet()}.${octet()}.${octet()}.${octet()}`);
    }
    for (const text of candidates) {
      const ours = parseAddress(text);
      const node = net.isIP(text);
      if (text.includes(':')) continue; // IPv6 goes through net.isIP itself
      assert.equal(ours?.family === 4, node === 4, `${JSON.stringify(text)}: ours ${ours ? 'accepts' : 'refuses'}, net.isIP says ${node}`);
      if (ours) assert.deepEqual([...ours.bytes], text.split('.').map(Number), JSON.stringify(text));
    }
  });

  it('the memoised canonical text is what formatCidr writes, for hosts, networks and host bits', () => {
    const inputs = [
      '10.0.0.5', '10.0.0.5/32', '10.0.0.0/8', '10.1.2.3/8', '0.0.0.0/0', '255.255.255.255', '192.168.1.1/24',
      '2001:db8::1', '2001:DB8:0:0::1/64', '::ffff:1.2.3.4', '::1', 'fe80::/10', '2001:db8::/128',
    ];
    for (const input of inputs) {
      const parsed = parseCidr(input);
      assert.ok(parsed, input);
      assert.equal(parsed.text, formatCidr(parsed), input);
      assert.equal(canonicalCidr(input), parsed.text, input);
      // Parsing the canonical text gives the same CIDR, without host bits.
      const again = parseCidr(parsed.text);
      assert.ok(again, parsed.text);
      assert.equal(again.text, parsed.text);
      assert.equal(again.hadHostBits, false);
    }
    assert.equal(parseCidr('10.1.2.3/8')?.text, '10.0.0.0/8');
    assert.equal(parseCidr('10.1.2.3/8')?.hadHostBits, true);
    assert.equal(parseCidr('2001:DB8:0:0::1/64')?.text, '2001:db8::/64');
  });

  it('refuses what no firewall set can hold', () => {
    for (const bad of ['1.2.3.4/33', '1.2.3.4/024', '1.2.3.4/', '1.2.3.4/-1', 'fe80::1%eth0', '::1/129', '1.2.3.4/8/8', 'A'.repeat(80)]) {
      assert.equal(parseCidr(bad), undefined, bad);
      assert.equal(parseCidr(bad), undefined, `${bad} (memoised)`);
    }
  });
});
