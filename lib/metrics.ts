// prom-client get-or-create: a metric already on the registry is reused, so
// two instances of a component on one registry (tests, a restarted API or
// manager in the same process, several informers) share it instead of
// throwing "already registered". A name taken by a metric of another type is
// a programming error and throws.

import { Counter, type CounterConfiguration, Gauge, type GaugeConfiguration, Histogram, type HistogramConfiguration, type Registry } from 'prom-client';

type Config<C> = Omit<C, 'registers'>;

function getOrCreate<M>(registry: Registry, name: string, type: abstract new (...args: never[]) => M, make: () => M): M {
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return make();
  if (!(existing instanceof type)) throw new Error(`metric ${name} is already registered with another type`);
  return existing;
}

export function counter<L extends string>(registry: Registry, config: Config<CounterConfiguration<L>>): Counter<L> {
  return getOrCreate(registry, config.name, Counter<L>, () => new Counter<L>({ ...config, registers: [registry] }));
}

export function gauge<L extends string>(registry: Registry, config: Config<GaugeConfiguration<L>>): Gauge<L> {
  return getOrCreate(registry, config.name, Gauge<L>, () => new Gauge<L>({ ...config, registers: [registry] }));
}

export function histogram<L extends string>(registry: Registry, config: Config<HistogramConfiguration<L>>): Histogram<L> {
  return getOrCreate(registry, config.name, Histogram<L>, () => new Histogram<L>({ ...config, registers: [registry] }));
}
