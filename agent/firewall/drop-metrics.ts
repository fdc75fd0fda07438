// The firewall's own drop counters (nft named counters, iptables rule
// counters, pf table stats) as Prometheus counters, read at scrape time:
// the packets and bytes the bans really dropped, for "drops per second".
import { Counter, type Registry } from 'prom-client';
import type { DropCounters, FirewallBackend } from './types.js';

export function registerFirewallDropMetrics(registry: Registry, backend: Pick<FirewallBackend, 'name' | 'counters'>): void {
  // Both counters are collected in the same scrape: share one read of the backend.
  let pending: Promise<DropCounters | undefined> | undefined;
  const read = () =>
    (pending ??= backend
      .counters()
      .catch(() => undefined)
      .finally(() => (pending = undefined)));
  const labels = { backend: backend.name };
  for (const [name, field, what] of [
    ['floodgate_firewall_dropped_packets_total', 'packets', 'Packets'],
    ['floodgate_firewall_dropped_bytes_total', 'bytes', 'Bytes'],
  ] as const) {
    new Counter({
      name,
      help: `${what} dropped by the firewall because their source is banned (the backend's own counters, read at scrape time)`,
      labelNames: ['backend'],
      registers: [registry],
      async collect() {
        const c = await read();
        this.reset();
        // No sample when the backend cannot be read, rather than a false 0.
        if (c) this.inc(labels, c[field]);
      },
    });
  }
}
