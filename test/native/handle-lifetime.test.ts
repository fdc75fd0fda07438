// Issue 13 item 14: a capture handle dropped while its next() waits in the
// thread pool. The addon is built with AddressSanitizer and loaded into a
// real Node process; the script drops its only reference to the handle while
// a next() is pending on a live capture and forces garbage collection. Before
// the fix the finalizer freed the handle and the completion then read it
// (heap-use-after-free); now a pending next() holds a reference to the handle
// and the free waits for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const src = path.join(root, 'native', 'src');
const nodeHeaders = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
const skip =
  process.platform !== 'linux' ? 'needs Linux (live capture on lo, gcc ASan runtime)'
  : process.getuid?.() !== 0 ? 'needs root to capture on lo'
  : !fs.existsSync(path.join(nodeHeaders, 'node_api.h')) ? `no Node headers at ${nodeHeaders}`
  : undefined;

const SCRIPT = `
const b = require(process.argv[2]);
async function main() {
  let opened = b.openLive('lo', { slotMs: 100, timeoutMs: 10, queueDepth: 2 });
  b.start(opened.handle);
  const pending = b.next(opened.handle);
  opened = null; // the only reference to the handle, apart from the pending next()
  for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
  const slot = await pending;
  console.log('next resolved with ' + (slot ? 'a slot' : 'null'));
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
  console.log('handle collected');
}
main();
`;

test('a handle collected while next() is pending is not used after free (ASan)', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-asan-'));
  try {
    const addon = path.join(dir, 'floodgate_native.node');
    await execa('gcc', ['-g', '-O1', '-fsanitize=address', '-fno-omit-frame-pointer', '-shared', '-fPIC', '-std=gnu11', '-DNAPI_VERSION=8',
      `-I${nodeHeaders}`, ...['addon.c', 'engine.c', 'agg.c', 'parse.c'].map((f) => path.join(src, f)), '-lpcap', '-lpthread', '-o', addon]);
    const script = path.join(dir, 'drop-handle.cjs');
    fs.writeFileSync(script, SCRIPT);
    const asan = String((await execa('gcc', ['-print-file-name=libasan.so'])).stdout).trim();
    const r = await execa(process.execPath, ['--expose-gc', script, addon], {
      env: { LD_PRELOAD: asan, ASAN_OPTIONS: 'detect_leaks=0:halt_on_error=1:exitcode=66' },
      reject: false,
      timeout: 60_000,
    });
    const report = String(r.stderr).split('\n').filter((l) => /ERROR: AddressSanitizer| #\d .* in (next_|handle_|js_)/.test(l));
    assert.equal(report.length, 0, report.join('\n'));
    assert.equal(r.exitCode, 0, String(r.stderr).slice(0, 2000));
    assert.match(String(r.stdout), /next resolved with a slot\nhandle collected/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
