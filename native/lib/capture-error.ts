// One error type for every capture failure, with a stable code and a
// one-line message fit for a CLI or an API answer.
export type CaptureErrorCode =
  | 'FG_NO_SUCH_DEVICE'
  | 'FG_PERM_DENIED'
  | 'FG_NOT_CAPTURE_FILE'
  | 'FG_NO_SUCH_FILE'
  | 'FG_BAD_FILTER'
  | 'FG_UNSUPPORTED_LINKTYPE'
  | 'FG_IFACE_DOWN'
  | 'FG_WRITE_FAILED'
  | 'FG_INVALID'
  | 'FG_NOMEM'
  | 'FG_CLOSED'
  | 'FG_PCAP';

export class CaptureError extends Error {
  constructor(
    readonly code: CaptureErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CaptureError';
  }

  /** Wrap whatever the binding threw, keeping its code when it has one. */
  static from(err: unknown): CaptureError {
    if (err instanceof CaptureError) return err;
    const e = err as { code?: string; message?: string };
    const code = (typeof e?.code === 'string' && e.code.startsWith('FG_') ? e.code : 'FG_PCAP') as CaptureErrorCode;
    return new CaptureError(code, String(e?.message ?? err).split('\n')[0] ?? 'capture failed');
  }
}
