// The Grafana dashboard in the chart (charts/floodgate/dashboards/floodgate.json):
// valid JSON with the panels issue 6 asks for and a Prometheus datasource
// variable, every query valid PromQL, and every metric a query names really
// exported — checked against the /metrics of a running agent (dry-run
// backend, capturing on loopback) and a running controller on our own API
// server, not against the source text.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startController, type RunningController } from '../../controller/controller.js';
import { startAgent, startApiServerWithCrds, stopApiServer, type RunningAgent } from '../controller/e2e-env.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { exportedSeries, metricOfLabelValues, metricsInQuery } from './promql-metrics.js';

const DASHBOARD = fileURLToPath(new URL('../../../charts/floodgate/dashboards/floodgate.json', import.meta.url));
const CP_STATE_DIR = '/tmp/floodgate-cp-attack';

interface Target {
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

/** Every PromQL query of the dashboard, with where it is. */
function queries(d: Dashboard): { where: string; expr: string }[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t, i) => ({ where: `panel "${p.title}" target ${i}`, expr: t.expr })));
}

/** Metric names the dashboard uses that `exported` does not have, as "metric (where)". */
function missingMetrics(d: Dashboard, exported: Set<string>): string[] {
  const missing: string[] = [];
  for (const { where, expr } of queries(d)) {
    for (const m of metricsInQuery(expr).metrics) if (!exported.has(m)) missing.push(`${m} (${where})`);
  }
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const m = metricOfLabelValues(typeof v.query === 'string' ? v.query : v.query.query);
    if (!m) missing.push(`unparsed query of variable $${v.name}`);
    else if (!exported.has(m)) missing.push(`${m} (variable $${v.name})`);
  }
  return missing;
}

describe('Grafana dashboard: structure', () => {
  it('is a dashboard with a Prometheus datasource variable that every panel uses', () => {
    assert.equal(dashboard.title, 'floodgate');
    assert.equal(dashboard.uid, 'floodgate');
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    assert.ok(ds, 'a datasource variable');
    assert.equal(ds.query, 'prometheus');
    for (const p of queryPanels) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: `\${${ds.name}}` }, p.title);
      assert.ok(p.targets?.length, `${p.title} has queries`);
      for (const t of p.targets!) assert.equal(t.datasource?.uid, `\${${ds.name}}`, p.title);
    }
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  });

  it('has the panels issue 6 asks for, each on the metric it is about', () => {
    const uses = (title: string, metric: RegExp) => {
      const p = queryPanels.find((x) => x.title === title);
      assert.ok(p, `panel "${title}"`);
      assert.ok(p.targets!.some((t) => metric.test(t.expr)), `"${title}" queries ${metric}`);
    };
    uses('Packets per second', /rate\(floodgate_packets_total\{/);
    uses('Drops per second', /floodgate_firewall_dropped_packets_total/);
    uses('Drops per second', /floodgate_capture_dropped_packets/);
    uses('Active bans', /floodgate_active_bans/);
    uses('Analyses by result', /floodgate_auto_defense_evaluations_total/);
    uses('Analyses by result', /floodgate_api_analyses_total/);
    uses('Attacks and auto-bans', /result="attack"/);
    uses('Firewall operation latency', /histogram_quantile\(0\.99, sum by \(le, operation\) \(rate\(floodgate_firewall_operation_seconds_bucket/);
  });

  it('every query is valid PromQL', () => {
    const all = queries(dashboard);
    assert.ok(all.length >= 20, `${all.length} queries`);
    for (const { where, expr } of all) {
      const parsed = metricsInQuery(expr);
      assert.deepEqual(parsed.errors, [], `${where}: ${expr}`);
      assert.ok(parsed.metrics.length > 0, `${where} names a metric`);
    }
  });

  it('the checker catches a metric that does not exist and a histogram queried without _bucket', () => {
    const exported = exportedSeries('# TYPE floodgate_firewall_operation_seconds histogram\n# TYPE floodgate_active_bans gauge\n');
    const bad: Dashboard = {
      ...dashboard,
      templating: { list: [] },
      panels: [
        { id: 1, type: 'timeseries', title: 'typo', targets: [{ expr: 'sum(rate(floodgate_packet_total[$__rate_interval]))' }] },
        { id: 2, type: 'timeseries', title: 'histogram', targets: [{ expr: 'histogram_quantile(0.9, rate(floodgate_firewall_operation_seconds[5m]))' }] },
        { id: 3, type: 'timeseries', title: 'fine', targets: [{ expr: 'sum(floodgate_active_bans) + sum(rate(floodgate_firewall_operation_seconds_count[1m]))' }] },
      ],
    };
    assert.deepEqual(missingMetrics(bad, exported), ['floodgate_packet_total (panel "typo" target 0)', 'floodgate_firewall_operation_seconds (panel "histogram" target 0)']);
  });
});

const skip = process.getuid?.() === 0 ? false : 'needs root (the agent captures on loopback)';

describe('Grafana dashboard: every metric is exported by the running agent or controller', { skip, timeout: 180_000 }, () => {
  let agent: RunningAgent | undefined;
  let cp: ControlPlane | undefined;
  let controller: RunningController | undefined;
  let agentMetrics = '';
  let controllerMetrics = '';

  before(async () => {
    agent = await startAgent('lo', 25000 + (process.pid % 1000));
    const res = await fetch(`${agent.url}/metrics`, { headers: { authorization: `Bearer ${agent.token}` } });
    assert.equal(res.status, 200);
    agentMetrics = await res.text();
    cp = await startApiServerWithCrds(CP_STATE_DIR);
    // The controller as `floodgate controller` builds it: its own registry with default metrics, /metrics on the probe port.
    controller = await startController({
      kubeconfig: cp.kubeconfig,
      leaseNamespace: 'default',
      identity: 'grafana-test',
      retentionMs: 3_600_000,
      memorySources: ['cgroup'],
      probePort: 0,
      probeHost: '127.0.0.1',
      logger: pino({ level: 'silent' }),
    });
    // Leadership creates the work queues and their metrics.
    for (let i = 0; i < 100 && !controller.isLeader(); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok(controller.isLeader(), 'the controller leads');
    await new Promise((r) => setTimeout(r, 500));
    controllerMetrics = await (await fetch(`${controller.probeUrl}/metrics`)).text();
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    if (cp) await stopApiServer(CP_STATE_DIR);
  });

  it('the scrapes are real: agent and controller each export their own families', () => {
    assert.match(agentMetrics, /^# TYPE floodgate_packets_total counter$/m);
    assert.match(agentMetrics, /^# TYPE floodgate_firewall_operation_seconds histogram$/m);
    assert.match(agentMetrics, /^floodgate_firewall_dropped_packets_total\{backend="dry-run"\} 0$/m);
    assert.match(controllerMetrics, /^# TYPE floodgate_workqueue_handler_seconds histogram$/m);
    assert.match(controllerMetrics, /^# TYPE floodgate_informer_objects gauge$/m);
    assert.doesNotMatch(controllerMetrics, /floodgate_packets_total/);
  });

  it('no query names a metric that neither exports', () => {
    const exported = new Set([...exportedSeries(agentMetrics), ...exportedSeries(controllerMetrics)]);
    assert.deepEqual(missingMetrics(dashboard, exported), []);
  });
});
