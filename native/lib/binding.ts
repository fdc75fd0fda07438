// The shape of the C addon (native/src/addon.c) and its loader. Tests and
// tools may inject another object of this shape (serialport's pattern), so
// nothing else imports the .node file directly.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

export interface RawTable {
  count: number;
  /** count × 16 bytes; IPv4 is v4-mapped (::ffff:a.b.c.d). */
  keys: Uint8Array;
  /** count × counterNames.length, heaviest entry first. */
  counters: Float64Array;
  /** Destinations only: count × portLists lists × portTopK × (port, packets). */
  ports?: Uint32Array;
  /** Destinations only: count × destSketchRegisters HLL registers. */
  sketches?: Uint8Array;
}

export interface RawSlot {
  start: number;
  end: number;
  coverStart: number;
  coverEnd: number;
  firstPacket: number;
  lastPacket: number;
  totals: Float64Array;
  sketch: Uint8Array;
  sources: RawTable;
  destinations: RawTable;
}

export interface RawStats {
  received: number;
  dropped: number;
  ifDropped: number;
  processed: number;
  malformed: number;
  slotsDropped: number;
  error?: string;
}

export interface CaptureInterface {
  name: string;
  loopback: boolean;
  up: boolean;
  /** IPv4 and IPv6 addresses, whatever the carrier state. */
  addresses: string[];
}

export interface RawOpened {
  handle: unknown;
  linktype: number;
  linktypeName: string;
  warnings: string[];
}

export interface RawParsed {
  result: 'ok' | 'non-ip' | 'malformed';
  src?: Uint8Array;
  dst?: Uint8Array;
  family?: number;
  proto?: number;
  tcpFlags?: number;
  fragment?: number;
  hasPorts?: number;
  sport?: number;
  dport?: number;
}

export interface RawOptions {
  slotMs?: number;
  maxSources?: number;
  maxDestinations?: number;
  queueDepth?: number;
  /** Export at most this many sources per slot to JS, heaviest first (C selects them). */
  keepSources?: number;
  /** Parse on the capture thread and update the tables on a second thread (default true). */
  pipeline?: boolean;
  snaplen?: number;
  bufferSize?: number;
  timeoutMs?: number;
  promiscuous?: boolean;
  filter?: string;
  writeFile?: string;
  protect?: string[];
}

export interface NativeBinding {
  openLive(iface: string, opts: RawOptions): RawOpened;
  openOffline(file: string, opts: RawOptions): RawOpened;
  start(handle: unknown): void;
  next(handle: unknown): Promise<RawSlot | null>;
  poll(handle: unknown): RawSlot | null;
  stop(handle: unknown): void;
  stats(handle: unknown): RawStats;
  close(handle: unknown): void;
  parse(linktype: number, frame: Buffer): RawParsed;
  interfaces(): CaptureInterface[];
  counterNames: string[];
  totalNames: string[];
  portTopK: number;
  portLists: number;
  slotSketchRegisters: number;
  destSketchRegisters: number;
  libpcapVersion: string;
}

/** The repository root: the nearest ancestor holding native/binding.gyp (works from src and dist). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'native', 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot locate the floodgate package root (native/binding.gyp)');
    dir = up;
  }
}

let cached: NativeBinding | undefined;

/** Load the compiled addon once. A missing build is a clear one-line error. */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => NativeBinding;
  try {
    cached = load(path.join(packageRoot(), 'native'));
  } catch (err) {
    throw new Error(
      `the native capture engine is not built (${(err as Error).message.split('\n')[0]}); run "npm run build:native" (needs libpcap-dev)`,
    );
  }
  return cached;
}
