// The floodgate dashboard: polls the controller's JSON API and renders each
// panel. Traffic every 1.5 s, everything else every 3 s.
import * as api from './api.js';
import { TrafficChart } from './chart.js';
import { ago, bytes, duration, el, percent, si, table, time } from './format.js';

const $ = (id) => document.getElementById(id);
const state = { writable: false, signedIn: false };

// ---- sign-in -------------------------------------------------------------

function renderAuth() {
  $('login-form').hidden = !state.writable || state.signedIn;
  $('logout').hidden = !state.signedIn;
  $('auth-state').textContent = !state.writable ? 'read-only (no dashboard token configured)' : state.signedIn ? 'signed in: changes allowed' : 'read-only';
  document.body.classList.toggle('can-write', state.signedIn);
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('auth-error').textContent = '';
  try {
    await api.login($('token-input').value);
    $('token-input').value = '';
    state.signedIn = true;
  } catch (err) {
    $('auth-error').textContent = err.message;
  }
  renderAuth();
});

$('logout').addEventListener('click', async () => {
  await api.logout().catch(() => undefined);
  state.signedIn = false;
  renderAuth();
});

// ---- live traffic --------------------------------------------------------

const ppsChart = new TrafficChart($('chart-pps'), 'Inbound packets/s', 'pps');
const bpsChart = new TrafficChart($('chart-bps'), 'Inbound bits/s', 'bps');

async function refreshTraffic() {
  const { agents } = await api.get('/traffic');
  $('traffic-errors').textContent = agents.filter((a) => a.error).map((a) => `${a.agent}: ${a.error}`).join('; ');
  if (agents.length === 0) $('traffic-errors').textContent = 'no agents: no DefensePolicy names a reachable agent yet';
  ppsChart.update(agents, 'pps');
  bpsChart.update(agents, 'bps');
}

// ---- top talkers ---------------------------------------------------------

function protocolMix(p) {
  if (!p) return '–';
  const total = p.tcp + p.udp + p.icmp + p.other;
  if (!total) return '–';
  return ['tcp', 'udp', 'icmp', 'other'].filter((k) => p[k] > 0).map((k) => `${k} ${Math.round((p[k] / total) * 100)}%`).join(' · ');
}

async function refreshTalkers() {
  const { agents } = await api.get('/top-talkers');
  const body = $('talkers-body');
  body.replaceChildren();
  $('talkers-window').textContent = agents[0] ? `last ${agents[0].windowSeconds} s` : '';
  for (const a of agents) {
    if (agents.length > 1) body.append(el('h3', {}, a.agent));
    if (a.error) {
      body.append(el('p', { class: 'error' }, a.error));
      continue;
    }
    if (a.talkers.length === 0) {
      body.append(el('p', { class: 'muted' }, 'no inbound traffic in the window'));
      continue;
    }
    body.append(
      table(
        ['source', 'packets', 'share', 'pps', 'protocols', ''],
        a.talkers.map((t) =>
          el('tr', { class: t.blocked ? 'blocked' : '' },
            el('td', { class: 'mono' }, t.ip),
            el('td', { class: 'num' }, si(t.packets)),
            el('td', { class: 'num' }, el('span', { class: 'share-bar', style: `--share:${Math.min(100, t.share * 100)}%` }, percent(t.share))),
            el('td', { class: 'num' }, si(t.pps)),
            el('td', {}, protocolMix(t.protocols)),
            el('td', {}, t.blocked ? el('span', { class: 'badge bad' }, 'blocked') : ''),
          ),
        ),
      ),
    );
  }
}

// ---- policies ------------------------------------------------------------

const CONTROLS = [
  { key: 'memoryThresholdPercent', label: 'Memory threshold', unit: '% of limit', step: '1' },
  { key: 'attackerShareThreshold', label: 'Attacker share threshold', unit: 'fraction (0.2 = 20%)', step: '0.01' },
  { key: 'windowSeconds', label: 'Analysis window', unit: 'seconds', step: '1' },
  { key: 'banDurationSeconds', label: 'Ban duration', unit: 'seconds', step: '1' },
];
const policyCards = new Map();

function policyCard(p) {
  const key = `${p.namespace}/${p.name}`;
  const inputs = {};
  const error = el('p', { class: 'error policy-error', role: 'alert' });
  const saved = el('span', { class: 'saved muted' });
  const status = el('div', { class: 'policy-status' });
  const form = el('form', { class: 'policy-form', 'data-policy': key },
    CONTROLS.map((c) => {
      const input = el('input', { type: 'number', step: c.step, name: c.key, 'data-control': c.key, required: true });
      input.addEventListener('input', () => (input.dataset.dirty = '1'));
      inputs[c.key] = input;
      return el('label', {}, el('span', {}, c.label), input, el('small', { class: 'muted' }, c.unit));
    }),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'write' }, 'Save'), saved),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    saved.textContent = '';
    const controls = {};
    for (const c of CONTROLS) if (inputs[c.key].dataset.dirty) controls[c.key] = Number(inputs[c.key].value);
    if (Object.keys(controls).length === 0) {
      saved.textContent = 'nothing changed';
      return;
    }
    try {
      const r = await api.savePolicy(p.namespace, p.name, controls);
      for (const c of CONTROLS) delete inputs[c.key].dataset.dirty;
      saved.textContent = 'saved';
      fill(r.policy, true);
    } catch (err) {
      // The API server's own message: the CRD schema is the authority on ranges.
      error.textContent = err.message;
    }
  });
  const card = el('article', { class: 'policy', id: `policy-${p.namespace}-${p.name}` }, el('h3', {}, key), status, form);
  const fill = (q, force = false) => {
    for (const c of CONTROLS) if (force || !inputs[c.key].dataset.dirty) inputs[c.key].value = String(q.controls[c.key]);
    status.replaceChildren(
      el('span', { class: `badge ${q.ready === 'True' ? 'ok' : 'warn'}`, title: q.readyMessage ?? '' }, q.ready === 'True' ? 'ready' : 'not ready'),
      el('span', { class: `badge ${q.agentsReachable === 'True' ? 'ok' : 'warn'}`, title: q.agentsMessage ?? '' }, q.agentsReachable === 'True' ? 'agents reachable' : 'agents unreachable'),
      el('span', { class: `badge ${q.underAttack ? 'bad' : 'ok'}` }, q.underAttack ? 'under attack' : 'calm'),
      el('span', { class: 'badge' }, `${q.activeBlocks} active blocks`),
      el('span', { class: 'badge', title: `signature rules: ${q.signatures}` }, `${q.activeSignatureRules} signature rules (${q.signatures})`),
      el('span', { class: 'badge' }, q.mode),
      q.lastTrigger ? el('span', { class: 'muted' }, ` last defense ${ago(q.lastTrigger.time)} (${q.lastTrigger.reason})`) : '',
    );
  };
  return { card, fill };
}

async function refreshPolicies() {
  const { policies } = await api.get('/policies');
  const body = $('policies-body');
  const seen = new Set();
  for (const p of policies) {
    const key = `${p.namespace}/${p.name}`;
    seen.add(key);
    let entry = policyCards.get(key);
    if (!entry) {
      body.querySelector('p.muted')?.remove();
      entry = policyCard(p);
      policyCards.set(key, entry);
      body.append(entry.card);
    }
    entry.fill(p);
  }
  for (const [key, entry] of policyCards) {
    if (seen.has(key)) continue;
    entry.card.remove();
    policyCards.delete(key);
  }
  if (policies.length === 0) body.replaceChildren(el('p', { class: 'muted' }, 'no DefensePolicies'));
  state.attackedPolicies = policies.filter((p) => p.underAttack).map((p) => p.name);
  renderBanner();
}

// Under attack: a policy's last analysis said so, or an agent's attack episode is still open.
function renderBanner() {
  const what = [...(state.attackedPolicies ?? []), ...(state.ongoingVictims ?? [])];
  const banner = $('attack-banner');
  banner.textContent = what.length ? `under attack: ${[...new Set(what)].join(', ')}` : 'no attack';
  banner.className = `badge ${what.length ? 'bad' : 'ok'}`;
}

// ---- active blocks -------------------------------------------------------

function evidence(e) {
  if (!e) return '–';
  const parts = [];
  if (e.vector) parts.push(e.vector);
  if (e.packets !== undefined) parts.push(`${si(e.packets)} pkts`);
  if (e.share !== undefined) parts.push(`${percent(e.share)} share`);
  if (e.pps !== undefined) parts.push(`${si(e.pps)} pps`);
  if (e.windowSeconds !== undefined) parts.push(`in ${e.windowSeconds}s`);
  return parts.join(' · ') || '–';
}

async function refreshBlocks() {
  const { blocks } = await api.get('/blocks');
  const shown = blocks.filter((b) => b.phase === 'Active' || b.phase === 'Pending');
  const body = $('blocks-body');
  if (shown.length === 0) return void body.replaceChildren(el('p', { class: 'muted' }, 'no active blocks'));
  body.replaceChildren(
    table(
      ['address', 'policy', 'state', 'time left', 'reason', 'evidence', ''],
      shown.map((b) =>
        el('tr', { 'data-blockevent': `${b.namespace}/${b.name}` },
          el('td', { class: 'mono' }, b.ip),
          el('td', {}, b.policy ?? '–'),
          el('td', {}, b.deleting ? 'unblocking…' : b.phase, b.offenceCount > 1 ? ` (offence ${b.offenceCount})` : ''),
          el('td', { class: 'num' }, b.secondsLeft === undefined ? '–' : duration(b.secondsLeft)),
          el('td', { class: 'reason' }, b.reason ?? '–'),
          el('td', {}, evidence(b.evidence)),
          el('td', {}, el('button', {
            class: 'write danger unblock',
            disabled: b.deleting,
            onclick: async () => {
              if (!confirm(`Unblock ${b.ip}? The firewall entry is removed and traffic from it is let through again.`)) return;
              $('blocks-error').textContent = '';
              try {
                await api.unblock(b.namespace, b.name);
                await refreshBlocks();
              } catch (err) {
                $('blocks-error').textContent = err.message;
              }
            },
          }, 'Unblock')),
        ),
      ),
    ),
  );
}

// ---- signature rules -----------------------------------------------------

async function refreshSignatures() {
  const { rules } = await api.get('/signature-rules');
  const shown = rules.filter((r) => r.phase === 'Active' || r.phase === 'Pending');
  const body = $('signatures-body');
  if (shown.length === 0) return void body.replaceChildren(el('p', { class: 'muted' }, 'no active signature rules'));
  body.replaceChildren(
    table(
      ['victim', 'vector', 'rule', 'applied', 'dropped', 'drop rate', 'time left', 'policy', ''],
      shown.map((r) =>
        el('tr', { 'data-signaturerule': `${r.namespace}/${r.name}` },
          el('td', { class: 'mono' }, r.victim),
          el('td', { title: r.reason ?? '' }, r.label ?? r.vector ?? '–'),
          el('td', { class: 'mono' }, r.rule),
          el('td', { title: r.message ?? '' }, r.deleting ? 'removing…' : r.phase === 'Pending' ? 'pending' : (r.applied ?? '–')),
          el('td', { class: 'num' }, si(r.packetsDropped)),
          el('td', { class: 'num drop-rate' }, `${si(r.dropRatePps)} pps`),
          el('td', { class: 'num' }, r.secondsLeft === undefined ? '–' : duration(r.secondsLeft)),
          el('td', {}, r.policy ?? '–'),
          el('td', {}, el('button', {
            class: 'write danger remove-signature',
            disabled: r.deleting,
            onclick: async () => {
              if (!confirm(`Remove the signature rule "${r.rule}"? It is taken off every agent, helper rules included, and matching traffic is let through again.`)) return;
              $('signatures-error').textContent = '';
              try {
                await api.removeSignatureRule(r.namespace, r.name);
                await refreshSignatures();
              } catch (err) {
                $('signatures-error').textContent = err.message;
              }
            },
          }, 'Remove')),
        ),
      ),
    ),
  );
}

// ---- attack history ------------------------------------------------------

async function refreshAttacks() {
  const { attacks, errors } = await api.get('/attacks');
  state.ongoingVictims = attacks.filter((a) => !a.endedAt).flatMap((a) => (a.victims.length ? a.victims : [`${a.agent} (per-source)`]));
  renderBanner();
  const body = $('attacks-body');
  const parts = errors.map((e) => el('p', { class: 'error' }, `${e.agent}: ${e.error}`));
  if (attacks.length === 0) parts.push(el('p', { class: 'muted' }, 'no attacks detected'));
  else
    parts.push(
      table(
        ['started', 'duration', 'vector', 'victims', 'peak', 'mitigation'],
        attacks.slice(0, 30).map((a) =>
          el('tr', { class: a.endedAt ? '' : 'ongoing' },
            el('td', {}, time(a.startedAt), a.endedAt ? '' : el('span', { class: 'badge bad' }, 'ongoing')),
            el('td', { class: 'num' }, duration((Date.parse(a.endedAt ?? a.lastSeenAt) - Date.parse(a.startedAt)) / 1000)),
            el('td', {}, a.vectors.join(', ') || (a.attackers.length ? 'per-source rate/share' : '–')),
            el('td', { class: 'mono' }, a.victims.join(', ') || '–'),
            el('td', { class: 'num' }, `${si(a.peakInboundPps)} pps`),
            el('td', {}, mitigation(a)),
          ),
        ),
      ),
    );
  body.replaceChildren(...parts);
}

function mitigation(a) {
  const out = [];
  if (a.banned.length) out.push(`banned ${a.banned.slice(0, 3).join(', ')}${a.banned.length > 3 ? ` +${a.banned.length - 3}` : ''}`);
  if (a.signatureRuleNeeded && a.signatures.length) out.push(`signature: ${a.signatures.slice(0, 2).join(', ')}`);
  else if (!a.banned.length && a.attackers.length) out.push(`observed ${a.attackers.length} attacker(s), none banned`);
  return out.join('; ') || '–';
}

// ---- memory --------------------------------------------------------------

async function refreshMemory() {
  const { pods } = await api.get('/memory');
  const body = $('memory-body');
  if (pods.length === 0) return void body.replaceChildren(el('p', { class: 'muted' }, 'no policy selects pods (spec.targetSelector)'));
  body.replaceChildren(
    ...pods.map((m) => {
      if (m.error) return el('div', { class: 'mem' }, el('div', { class: 'mem-head' }, el('b', {}, m.pod), el('span', { class: 'muted' }, m.policy)), el('p', { class: 'error' }, m.error));
      const pct = m.percent ?? 0;
      const over = m.percent !== null && m.percent >= m.thresholdPercent;
      return el('div', { class: 'mem', 'data-pod': m.pod },
        el('div', { class: 'mem-head' }, el('b', {}, m.pod), el('span', { class: 'muted' }, `policy ${m.policy} · ${m.source}`)),
        el('div', { class: 'mem-bar', title: `trigger at ${m.thresholdPercent}%` },
          el('div', { class: `mem-fill ${over ? 'over' : ''}`, style: `width:${Math.min(100, pct)}%` }),
          el('div', { class: 'mem-trigger', style: `left:${m.thresholdPercent}%` }),
        ),
        el('div', { class: 'mem-text' },
          m.limitBytes === null ? `${bytes(m.usageBytes)} used, no memory limit (the trigger cannot fire)` : `${bytes(m.usageBytes)} of ${bytes(m.limitBytes)} (${pct.toFixed(1)}%) · trigger at ${m.thresholdPercent}%`,
        ),
      );
    }),
  );
}

// ---- loop ----------------------------------------------------------------

function every(ms, fn, errorTarget) {
  const run = async () => {
    try {
      await fn();
      if (errorTarget) errorTarget.dataset.stale = '';
    } catch (err) {
      if (errorTarget) errorTarget.dataset.stale = err.message;
    }
    setTimeout(run, ms);
  };
  run();
}

async function main() {
  try {
    Object.assign(state, await api.session());
  } catch {
    /* the panels say what is wrong */
  }
  renderAuth();
  every(1500, refreshTraffic, $('traffic'));
  every(3000, refreshTalkers, $('talkers'));
  every(3000, refreshPolicies, $('policies'));
  every(2000, refreshBlocks, $('blocks'));
  every(2000, refreshSignatures, $('signatures'));
  every(3000, refreshAttacks, $('attacks'));
  every(3000, refreshMemory, $('memory'));
}

main();
