// The batch schema's plain-check fast path must accept exactly what
// blockBodySchema accepts, and hand back what the schema would: it only
// spares valid items the zod parse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { blockBatchBodySchema, blockBodySchema, plainBlockBody } from '../../api/agent/v1/requests.js';

const ok = { ip: '203.0.113.9', durationSeconds: 60, reason: 'flood' };

const variants: unknown[] = [
  ok,
  { cidr: '198.51.100.0/24', durationSeconds: 3600, reason: 'range', policy: 'web-guard' },
  { ip: '2001:db8::1', durationSeconds: 1, reason: 'v6' },
  { ...ok, policy: 'a.b-c' },
  { ...ok, ip: '10.0.0.0/24' },
  { ...ok, ip: 'fe80::1%eth0' },
  { ...ok, ip: ' 203.0.113.9' },
  { ...ok, ip: 7 },
  { ...ok, cidr: '10.0.0.0/024', ip: undefined },
  { durationSeconds: 60, reason: 'x', cidr: '10.0.0.0/024' },
  { ...ok, cidr: '10.0.0.0/24' },
  { durationSeconds: 60, reason: 'neither' },
  { ...ok, durationSeconds: 1.5 },
  { ...ok, durationSeconds: 0 },
  { ...ok, durationSeconds: 2592000 },
  { ...ok, durationSeconds: 2592001 },
  { ...ok, durationSeconds: Number.NaN },
  { ...ok, durationSeconds: '60' },
  { ...ok, reason: '' },
  { ...ok, reason: '   ' },
  { ...ok, reason: 'a\u202eb' },
  { ...ok, reason: 'line\nbreak' },
  { ...ok, reason: 'x'.repeat(200) },
  { ...ok, reason: 'x'.repeat(201) },
  { ...ok, policy: 'Upper' },
  { ...ok, policy: '' },
  { ...ok, policy: null },
  { ...ok, extra: true },
  JSON.parse('{"ip":"203.0.113.9","durationSeconds":60,"reason":"x","__proto__":{"polluted":1}}') as unknown,
  Object.assign(Object.create({ inherited: 1 }) as object, ok),
  [ok],
  null,
  'ip',
];

describe('batch item fast path', () => {
  it('vouches only for items the schema accepts, unchanged', () => {
    let vouched = 0;
    for (const item of variants) {
      const plain = plainBlockBody(item);
      const parsed = blockBodySchema.safeParse(item);
      if (plain === undefined) continue;
      vouched++;
      assert.ok(parsed.success, `fast path accepted what the schema refuses: ${JSON.stringify(item)}`);
      assert.deepEqual(plain, parsed.data, JSON.stringify(item));
    }
    // The fast path is the common case: plain valid items must take it.
    assert.ok(vouched >= 5, `only ${vouched} items took the fast path`);
    assert.ok(plainBlockBody(ok) !== undefined && plainBlockBody(variants[1]) !== undefined);
  });

  it('the batch answers exactly as item-by-item parsing would', () => {
    for (const item of variants) {
      const one = blockBodySchema.safeParse(item);
      const batch = blockBatchBodySchema.safeParse({ blocks: [ok, item] });
      assert.equal(batch.success, one.success, JSON.stringify(item));
      if (one.success && batch.success) assert.deepEqual(batch.data.blocks[1], one.data);
      if (!one.success && !batch.success) {
        const first = one.error.issues[0];
        const got = batch.error.issues[0];
        assert.deepEqual(got?.path, ['blocks', 1, ...(first?.path ?? [])], JSON.stringify(item));
        assert.equal(got?.message, first?.message);
      }
    }
  });
});
