// The live traffic charts: one uPlot per metric, one series per agent.
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { si } from './format.js';

const COLORS = ['#4cc9f0', '#f72585', '#b5e48c', '#ffb703', '#9d4edd', '#90e0ef'];

/** Agents' series on one shared time axis (uPlot wants aligned columns). */
export function align(agents, key) {
  const ts = [...new Set(agents.flatMap((a) => a.t))].sort((x, y) => x - y);
  const index = new Map(ts.map((t, i) => [t, i]));
  const columns = agents.map((a) => {
    const col = new Array(ts.length).fill(null);
    a.t.forEach((t, i) => (col[index.get(t)] = a[key][i]));
    return col;
  });
  return [ts, ...columns];
}

function newest(column) {
  for (let i = (column?.length ?? 0) - 1; i >= 0; i--) if (column[i] !== null) return column[i];
  return null;
}

export class TrafficChart {
  constructor(container, title, unit) {
    this.container = container;
    this.title = title;
    this.unit = unit;
    this.names = '';
    this.plot = undefined;
  }

  width() {
    return Math.max(300, this.container.clientWidth - 8);
  }

  build(names) {
    this.plot?.destroy();
    this.names = names.join('\n');
    const fmt = (v) => si(v, this.unit);
    this.plot = new uPlot(
      {
        title: this.title,
        width: this.width(),
        height: 220,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          { stroke: '#9aa4b2', grid: { stroke: '#2a3140' }, ticks: { stroke: '#2a3140' } },
          { stroke: '#9aa4b2', grid: { stroke: '#2a3140' }, ticks: { stroke: '#2a3140' }, size: 70, values: (_u, vals) => vals.map(fmt) },
        ],
        // Off the chart the legend shows the newest second instead of dashes.
        series: [
          { value: (_u, v, _s, idx) => (idx == null ? 'latest' : new Date(v * 1000).toLocaleTimeString()) },
          ...names.map((n, i) => ({
            label: n,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            fill: `${COLORS[i % COLORS.length]}22`,
            value: (u, v, s, idx) => fmt(idx == null ? newest(u.data[s]) : v),
            spanGaps: false,
          })),
        ],
        legend: { live: true },
      },
      [[], ...names.map(() => [])],
      this.container,
    );
  }

  update(agents, key) {
    const names = agents.map((a) => a.agent);
    if (!this.plot || names.join('\n') !== this.names) this.build(names);
    const data = align(agents, key);
    this.plot.setData(data);
    if (this.plot.width !== this.width()) this.plot.setSize({ width: this.width(), height: 220 });
    // For tests and curious users: how many seconds are plotted.
    this.container.dataset.points = String(data[0].length);
  }
}
