// The metric names a Grafana dashboard's queries use, found with the
// Prometheus project's own PromQL grammar (@prometheus-io/lezer-promql), and
// the series names a /metrics page really exports.
import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's built-in interval variables, replaced by durations so the query parses as PromQL. */
const GRAFANA_DURATIONS: Record<string, string> = { $__rate_interval: '1m', $__interval: '1m', $__range: '1h' };

export interface ParsedQuery {
  metrics: string[];
  /** Syntax errors (empty when the query is valid PromQL). */
  errors: string[];
}

export function metricsInQuery(expr: string): ParsedQuery {
  const promql = expr.replace(/\$__(rate_interval|interval|range)\b/g, (v) => GRAFANA_DURATIONS[v] ?? v);
  const metrics = new Set<string>();
  const errors: string[] = [];
  parser.parse(promql).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`syntax error at ${node.from}: "${promql.slice(Math.max(0, node.from - 10), node.to + 10)}"`);
      // The metric name of a selector: an Identifier directly under a VectorSelector.
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.add(promql.slice(node.from, node.to));
    },
  });
  return { metrics: [...metrics], errors };
}

/** label_values(metric, label): the metric of a Grafana query variable (Grafana syntax, not PromQL). */
export function metricOfLabelValues(query: string): string | undefined {
  return /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,/.exec(query.trim())?.[1];
}

/**
 * Every series name a Prometheus text exposition makes queryable: each
 * `# TYPE` declares a family (even one with no samples yet, e.g. a labelled
 * counter never incremented); histograms are queried as _bucket/_sum/_count,
 * summaries as the name itself plus _sum/_count.
 */
export function exportedSeries(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      else if (kind === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s);
      else names.add(name);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
