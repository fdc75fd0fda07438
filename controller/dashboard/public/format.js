// Number and time formatting for tables and axes.
const SI = ['', 'k', 'M', 'G', 'T'];

export function si(v, unit = '') {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1000 && i < SI.length - 1) {
    x /= 1000;
    i++;
  }
  const s = x >= 100 || i === 0 ? Math.round(x).toString() : x.toFixed(1);
  return `${v < 0 ? '-' : ''}${s}${SI[i] ? ` ${SI[i]}` : ''}${unit ? (SI[i] ? unit : ` ${unit}`) : ''}`.trim();
}

export function bytes(v) {
  if (v === null || v === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x >= 100 || i === 0 ? Math.round(x) : x.toFixed(1)} ${units[i]}`;
}

export const percent = (f, digits = 1) => (f === null || f === undefined ? '–' : `${(f * 100).toFixed(digits)}%`);

export function duration(seconds) {
  if (seconds === undefined || seconds === null) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function ago(iso) {
  if (!iso) return '–';
  return `${duration((Date.now() - Date.parse(iso)) / 1000)} ago`;
}

export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '–');

/** Element helper: el('td', {class: 'x'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

export function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}
