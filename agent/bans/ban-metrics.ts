// Prometheus metrics of the ban manager, registered on an injected Registry.
// Get-or-create, so a restarted manager in the same process reuses them.

import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../lib/metrics.js';

export interface BanMetrics {
  bansTotal: Counter<'backend' | 'source'>;
  activeBans: Gauge<'backend'>;
  firewallErrors: Counter<'backend' | 'operation'>;
  refusals: Counter<'reason'>;
  firewallSeconds: Histogram<'backend' | 'operation'>;
  reconcileRepairs: Counter<'backend' | 'kind'>;
  liftedBans: Counter<'reason'>;
}

export function banMetrics(registry: Registry): BanMetrics {
  return {
    bansTotal:
      counter(registry, { name: 'floodgate_bans_total', help: 'New bans created', labelNames: ['backend', 'source'] }),
    activeBans:
      gauge(registry, { name: 'floodgate_active_bans', help: 'Bans currently active', labelNames: ['backend'] }),
    firewallErrors:
      counter(registry, {
        name: 'floodgate_firewall_errors_total',
        help: 'Firewall backend operations that failed',
        labelNames: ['backend', 'operation'],
      }),
    refusals:
      counter(registry, {
        name: 'floodgate_ban_refusals_total',
        help: 'Ban requests refused, by reason (policy rule, cap or invalid input)',
        labelNames: ['reason'],
      }),
    firewallSeconds:
      histogram(registry, {
        name: 'floodgate_firewall_operation_seconds',
        help: 'Latency of firewall backend operations',
        labelNames: ['backend', 'operation'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      }),
    reconcileRepairs:
      counter(registry, {
        name: 'floodgate_reconcile_repairs_total',
        help: 'Firewall entries reconcile had to re-add (missing) or remove (unknown)',
        labelNames: ['backend', 'kind'],
      }),
    liftedBans: counter(registry, {
      name: 'floodgate_bans_lifted_total',
      help: 'Stored bans lifted because a never-block rule now covers them (gateway, DNS resolver, own address or allowlist changed), by rule',
      labelNames: ['reason'],
    }),
  };
}
