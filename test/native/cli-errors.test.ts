// Bad input to the CLI: one line on stderr, a non-zero exit, never a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { isRoot } from '../support/netns.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
const fixture = fileURLToPath(new URL('../../../test/fixtures/captures/ethernet.pcap', import.meta.url));

async function floodgate(args: string[], opts: { user?: string } = {}) {
  const cmd = opts.user ? ['setpriv', `--reuid=${opts.user}`, `--regid=nogroup`, '--clear-groups', process.execPath, bin, ...args] : [process.execPath, bin, ...args];
  const r = await execa(cmd[0]!, cmd.slice(1), { reject: false });
  return { code: r.exitCode, stderr: String(r.stderr).trim(), stdout: String(r.stdout) };
}

function assertOneLine(stderr: string, pattern: RegExp) {
  assert.equal(stderr.split('\n').length, 1, `expected one line, got:\n${stderr}`);
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\bat .*\.js:\d+/, 'stack trace leaked');
}

test('analyze: a missing file', async () => {
  const r = await floodgate(['analyze', '/nonexistent/x.pcap']);
  assert.notEqual(r.code, 0);
  assertOneLine(r.stderr, /no such file: \/nonexistent\/x\.pcap/);
});

test('analyze: a file that is not a capture', async () => {
  const f = path.join(os.tmpdir(), `fg-not-pcap-${process.pid}.txt`);
  fs.writeFileSync(f, 'ip,count\n1.2.3.4,5\n');
  try {
    const r = await floodgate(['analyze', f]);
    assert.notEqual(r.code, 0);
    assertOneLine(r.stderr, /is not a pcap or pcapng capture/);
  } finally {
    fs.rmSync(f);
  }
});

test('analyze: an invalid share threshold (the seed mixed percent and fraction)', async () => {
  for (const bad of ['50', '0', '-0.1', 'abc']) {
    const r = await floodgate(['analyze', fixture, '--share', bad]);
    assert.equal(r.code, 2, `--share ${bad}`);
    assertOneLine(r.stderr, /share|fraction|number/);
  }
  const r = await floodgate(['analyze', fixture, '--share', '50']);
  assert.match(r.stderr, /fraction in \(0, 1\], e\.g\. 0\.2 for 20%/);
});

test('analyze: invalid window, rates and protect list', async () => {
  for (const args of [['--window', '-3'], ['--victim-pps', 'lots'], ['--protect', '10.0.0.300'], ['--slot-ms', '5']]) {
    const r = await floodgate(['analyze', fixture, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assertOneLine(r.stderr, /./);
  }
});

test('capture: an unknown interface', { skip: isRoot() ? false : 'needs root' }, async () => {
  const r = await floodgate(['capture', '-i', 'nosuchif0', '--seconds', '1']);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /no such interface: nosuchif0/);
});

test('capture: no permission explains CAP_NET_RAW', { skip: isRoot() ? false : 'needs root to drop to nobody' }, async () => {
  const r = await floodgate(['capture', '-i', 'lo', '--seconds', '1'], { user: 'nobody' });
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /permission denied.*CAP_NET_RAW/);
});

test('capture: an invalid BPF filter', { skip: isRoot() ? false : 'needs root' }, async () => {
  const r = await floodgate(['capture', '-i', 'lo', '--seconds', '1', '--filter', 'tcp and and']);
  assert.notEqual(r.code, 0);
  assertOneLine(r.stderr, /invalid BPF filter/);
});

test('analyze on a good fixture succeeds and reports it', async () => {
  const r = await floodgate(['analyze', fixture]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /21 packets/);
  assert.match(r.stdout, /link type EN10MB/);
});
