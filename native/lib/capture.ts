// Typed front of the native engine: validated options in, decoded Slots out.
// The binding is injectable so tests can drive this class without libpcap.
import { loadBinding, type NativeBinding } from './binding.js';
import { CaptureError } from './capture-error.js';
import { captureOptionsSchema, liveCaptureOptionsSchema, oneLineZodError } from './capture-options.js';
import { checkLayout, decodeSlot } from './slot-decoder.js';
import type { CaptureOptions, CaptureStats, LiveCaptureOptions, Slot } from './types.js';

export interface CaptureInfo {
  linktype: number;
  linktypeName: string;
  /** pcap_activate warnings (capture works, but e.g. promiscuous mode was not available). */
  warnings: string[];
}

export class Capture {
  private closed = false;
  private started = false;

  private constructor(
    private readonly binding: NativeBinding,
    private readonly handle: unknown,
    readonly info: CaptureInfo,
  ) {}

  /** Read a pcap or pcapng file through the same engine as a live capture. */
  static openFile(file: string, options: CaptureOptions = {}, binding: NativeBinding = loadBinding()): Capture {
    const parsed = captureOptionsSchema.safeParse(options);
    if (!parsed.success) throw new CaptureError('FG_INVALID', oneLineZodError(parsed.error));
    checkLayout(binding);
    // Files never drop slots: the engine waits for JS, so a small queue bounds memory.
    const opts = { queueDepth: 2, ...parsed.data };
    try {
      const opened = binding.openOffline(file, opts);
      return new Capture(binding, opened.handle, opened);
    } catch (err) {
      throw CaptureError.from(err);
    }
  }

  static openLive(options: LiveCaptureOptions, binding: NativeBinding = loadBinding()): Capture {
    const parsed = liveCaptureOptionsSchema.safeParse(options);
    if (!parsed.success) throw new CaptureError('FG_INVALID', oneLineZodError(parsed.error));
    checkLayout(binding);
    const { interface: iface, ...opts } = parsed.data;
    try {
      const opened = binding.openLive(iface, opts);
      return new Capture(binding, opened.handle, opened);
    } catch (err) {
      throw CaptureError.from(err);
    }
  }

  /** Start the capture thread (idempotent). */
  start(): void {
    if (this.started) return;
    this.binding.start(this.handle);
    this.started = true;
  }

  /** The next finished slot, waiting for it; null once the capture has ended (EOF or stop). */
  async next(): Promise<Slot | null> {
    this.start();
    const raw = await this.binding.next(this.handle);
    return raw ? this.decode(raw) : null;
  }

  /** A finished slot if one is ready, without waiting. */
  poll(): Slot | null {
    const raw = this.binding.poll(this.handle);
    return raw ? this.decode(raw) : null;
  }

  async *slots(): AsyncGenerator<Slot> {
    for (;;) {
      const s = await this.next();
      if (!s) break;
      yield s;
    }
    const err = this.stats().error;
    if (err) throw new CaptureError('FG_PCAP', err);
  }

  /** Ask the capture thread to finish (pcap_breakloop); slots already aggregated are still delivered. */
  stop(): void {
    if (!this.closed) this.binding.stop(this.handle);
  }

  stats(): CaptureStats & { error?: string } {
    return this.binding.stats(this.handle);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.binding.close(this.handle);
  }

  private decode(raw: Parameters<typeof decodeSlot>[0]): Slot {
    return decodeSlot(raw, {
      portTopK: this.binding.portTopK,
      destSketchRegisters: this.binding.destSketchRegisters,
    });
  }
}
