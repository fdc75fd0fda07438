// The engine's threads (capture, aggregator, consumer) under ThreadSanitizer,
// driven from a small C program over a generated capture: any data race in the
// hand-off ring, slot queue or pool fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeBenchCapture } from '../gen/bench-capture.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const src = path.join(root, 'native', 'src');

test('engine threads are race-free under ThreadSanitizer (full run and early stop)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-tsan-'));
  try {
    const bin = path.join(dir, 'engine_tsan');
    await execa('clang', ['-g', '-O1', '-fsanitize=thread', `-I${src}`, path.join(root, 'native/test/engine_tsan.c'),
      ...['engine.c', 'agg.c', 'parse.c'].map((f) => path.join(src, f)), '-lpcap', '-lpthread', '-o', bin]);
    const file = path.join(dir, 'mixed.pcap');
    writeBenchCapture(file, { packets: 100_000, seed: 3, progress: false });
    const env = { TSAN_OPTIONS: 'halt_on_error=1 exitcode=66' };

    const full = await execa(bin, [file], { env, reject: false });
    assert.equal(full.exitCode, 0, `ThreadSanitizer: ${full.stderr}`);
    assert.match(String(full.stdout), /packets=100000 processed=100000/);

    const stopped = await execa(bin, [file, 'stop'], { env, reject: false });
    assert.equal(stopped.exitCode, 0, `ThreadSanitizer (stop path): ${stopped.stderr}`);
    const m = /slots=(\d+) packets=(\d+) processed=(\d+)/.exec(String(stopped.stdout));
    assert.ok(m, String(stopped.stdout));
    // Whatever was processed before the stop was delivered, nothing more.
    assert.equal(m[2], m[3]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
