// The engine's two-thread pipeline (capture thread parses, a second thread
// updates the tables) must give exactly what one thread gives: same slots,
// same totals, same table contents, in the same order — including slot
// rotation, Space-Saving eviction and the protected-address filter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Capture } from '../../native/lib/capture.js';
import type { CaptureOptions, Slot } from '../../native/lib/types.js';
import { writeBenchCapture } from '../gen/bench-capture.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/captures/', import.meta.url));

async function allSlots(file: string, opts: CaptureOptions): Promise<{ slots: Slot[]; processed: number }> {
  const cap = Capture.openFile(file, opts);
  const slots: Slot[] = [];
  try {
    for await (const slot of cap.slots()) slots.push(slot);
    return { slots, processed: cap.stats().processed };
  } finally {
    cap.close();
  }
}

async function assertSameBothWays(file: string, opts: CaptureOptions): Promise<Slot[]> {
  const piped = await allSlots(file, { ...opts, pipeline: true });
  const single = await allSlots(file, { ...opts, pipeline: false });
  assert.equal(piped.processed, single.processed);
  assert.equal(piped.slots.length, single.slots.length, 'slot count');
  for (let i = 0; i < single.slots.length; i++) assert.deepEqual(piped.slots[i], single.slots[i], `slot ${i}`);
  return piped.slots;
}

test('pipeline: 200k packets, 100 ms slots, a full source table evicting: identical to one thread', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-pipeline-'));
  try {
    const file = path.join(dir, 'mixed.pcap');
    const summary = writeBenchCapture(file, { packets: 200_000, seed: 7, progress: false });
    const slots = await assertSameBothWays(file, { slotMs: 100, maxSources: 1024, keepSources: 200 });
    assert.ok(slots.length >= 5, `expected several slots, got ${slots.length}`);
    const evictions = slots.reduce((n, s) => n + s.totals.sourceEvictions, 0);
    assert.ok(evictions > 0, 'the small source table must have evicted');
    // The heavy hitter survives eviction and tops every slot.
    for (const s of slots) assert.equal(s.sources[0]?.addr, summary.attacker);
    const total = slots.reduce((n, s) => n + s.totals.packets, 0);
    assert.equal(total, 200_000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pipeline: every fixture, with and without a protected-address filter, identical to one thread', async () => {
  const files = fs.readdirSync(fixtures).filter((f) => /\.pcap(ng)?$/.test(f));
  assert.ok(files.length > 0);
  for (const f of files) {
    await assertSameBothWays(path.join(fixtures, f), {});
    await assertSameBothWays(path.join(fixtures, f), { protect: ['10.0.0.0/8', '2001:db8::/32'] });
  }
});

test('pipeline option is validated: a non-boolean is a one-line error', () => {
  assert.throws(() => Capture.openFile(path.join(fixtures, fs.readdirSync(fixtures).find((f) => f.endsWith('.pcap'))!), { pipeline: 'yes' as unknown as boolean }), /pipeline/);
});
