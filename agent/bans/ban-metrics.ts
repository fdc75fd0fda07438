// Prometheus metrics of the ban manager, registered on an injected Registry.
// Get-or-create, so a restarted manager in the same process reuses them.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface BanMetrics {
  bansTotal: Counter<'backend' | 'source'>;
  activeBans: Gauge<'backend'>;
  firewallErrors: Counter<'backend' | 'operation'>;
  refusals: Counter<'reason'>;
  firewallSeconds: Histogram<'backend' | 'operation'>;
  reconcileRepairs: Counter<'backend' | 'kind'>;
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

export function banMetrics(registry: Registry): BanMetrics {
  const registers = [registry];
  return {
    bansTotal:
      existing(registry, 'floodgate_bans_total') ??
      new Counter({ name: 'floodgate_bans_total', help: 'New bans created', labelNames: ['backend', 'source'], registers }),
    activeBans:
      existing(registry, 'floodgate_active_bans') ??
      new Gauge({ name: 'floodgate_active_bans', help: 'Bans currently active', labelNames: ['backend'], registers }),
    firewallErrors:
      existing(registry, 'floodgate_firewall_errors_total') ??
      new Counter({
        name: 'floodgate_firewall_errors_total',
        help: 'Firewall backend operations that failed',
        labelNames: ['backend', 'operation'],
        registers,
      }),
    refusals:
      existing(registry, 'floodgate_ban_refusals_total') ??
      new Counter({
        name: 'floodgate_ban_refusals_total',
        help: 'Ban requests refused, by reason (policy rule, cap or invalid input)',
        labelNames: ['reason'],
        registers,
      }),
    firewallSeconds:
      existing(registry, 'floodgate_firewall_operation_seconds') ??
      new Histogram({
        name: 'floodgate_firewall_operation_seconds',
        help: 'Latency of firewall backend operations',
        labelNames: ['backend', 'operation'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      }),
    reconcileRepairs:
      existing(registry, 'floodgate_reconcile_repairs_total') ??
      new Counter({
        name: 'floodgate_reconcile_repairs_total',
        help: 'Firewall entries reconcile had to re-add (missing) or remove (unknown)',
        labelNames: ['backend', 'kind'],
        registers,
      }),
  };
}
