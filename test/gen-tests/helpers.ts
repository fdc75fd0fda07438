// Shared test helpers: run tcpdump on a capture, make temp dirs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TCPDUMP = '/usr/bin/tcpdump';
export const hasTcpdump = existsSync(TCPDUMP);
export const skipWithoutTcpdump = hasTcpdump ? false : 'tcpdump not installed at /usr/bin/tcpdump';

export interface TcpdumpOutput {
  /** One entry per packet line (tcpdump -tt prints epoch seconds first; zero-length records print "[Invalid header..."). */
  packets: string[];
  stdout: string;
  stderr: string;
}

/** `tcpdump -r FILE -nn -tt [extra]`; throws when tcpdump fails to read the file. */
export function tcpdump(file: string, extra: string[] = []): TcpdumpOutput {
  const r = spawnSync(TCPDUMP, ['-r', file, '-nn', '-tt', ...extra], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`tcpdump exited ${r.status}: ${r.stderr}`);
  const packets = r.stdout.split('\n').filter((l) => /^\d+\.\d+ /.test(l) || l.startsWith('[Invalid header'));
  return { packets, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temp dir and its cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `floodgate-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
