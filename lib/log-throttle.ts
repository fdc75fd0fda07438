// At most one log line per interval for events an attacker can repeat at will
// (a wrong token, a refused Host, a dropped connection): the first one is
// logged at once, the rest of the interval only counted, and the next line
// says how many were not logged.

export class LogThrottle {
  private last = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `emit` with the count suppressed since the last line, or counts this event. */
  hit(emit: (suppressed: number) => void): void {
    const t = this.now();
    if (t - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const suppressed = this.suppressed;
    this.last = t;
    this.suppressed = 0;
    emit(suppressed);
  }
}
