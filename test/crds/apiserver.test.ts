/**
 * The CRDs against a real API server (kube-apiserver 1.20.2 from
 * test/control-plane, in its own state dir /tmp/floodgate-cp-crds, stopped
 * and wiped at the end; FLOODGATE_CP_KEEP=1 keeps it running). With an
 * exported KUBECONFIG it runs against that cluster instead (nothing is
 * started or stopped; the CRDs are applied and left in place).
 *
 *   node --import tsx --test test/crds/apiserver.test.ts
 */
import assert from 'node:assert/strict';
import { DEFAULT_THRESHOLDS } from '../../detection/defaults.js';
import { after, before, describe, it } from 'node:test';
import { ensureControlPlane, stopControlPlane, type ControlPlane } from '../control-plane/control-plane.js';
import { setCondition } from '../../api/v1alpha1/conditions.js';
import { crdFiles } from '../../deploy/crd-files.js';
import {
  API_VERSION,
  BLOCK_EVENT,
  BlockEventConditions,
  DEFENSE_POLICY,
  DefensePolicyConditions,
  GROUP,
  SIGNATURE_RULE,
  UNBLOCK_FINALIZER,
  defensePolicySpecSchema,
  resolveSpec,
  type BlockEvent,
  type DefensePolicy,
} from '../../api/v1alpha1/index.js';
import {
  customObjectsApi,
  Kind,
  makeKubectl,
  parseTable,
  STATE_DIR,
  type Kubectl,
  type Obj,
} from './helpers.js';

const NS = `crds-test-${process.pid}`;
const NOW = new Date();

let cp: ControlPlane;
let kubectl: Kubectl;
let policies: Kind;
let blocks: Kind;
let rules: Kind;
let serverMinor = 0;


function policy(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: API_VERSION, kind: DEFENSE_POLICY.kind, metadata: { name, namespace: NS }, spec };
}
function block(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: API_VERSION, kind: BLOCK_EVENT.kind, metadata: { name, namespace: NS }, spec };
}
function signatureRule(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: API_VERSION, kind: SIGNATURE_RULE.kind, metadata: { name, namespace: NS }, spec };
}
const AGENTS = { agents: [{ url: 'http://host.docker.internal:12345', tokenSecretRef: { name: 'agent-token', key: 'token' } }] };
const iso = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Create an invalid object through the API (no kubectl client-side checks): expect 422 and these fragments. */
async function rejects(kind: Kind, obj: Obj, ...fragments: (string | RegExp)[]): Promise<string> {
  const r = await kind.tryCreate(obj);
  assert.ok('err' in r, `server accepted ${JSON.stringify(obj.spec)}`);
  assert.equal(r.err.code, 422, r.err.message);
  assert.equal(r.err.reason, 'Invalid');
  for (const f of fragments) {
    if (typeof f === 'string') assert.ok(r.err.message.includes(f), `message lacks ${JSON.stringify(f)}:\n${r.err.message}`);
    else assert.match(r.err.message, f);
  }
  return r.err.message;
}

describe('floodgate CRDs on a real API server', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    const t0 = Date.now();
    cp = await ensureControlPlane({ stateDir: STATE_DIR });
    kubectl = makeKubectl(cp.kubeconfig);
    const api = customObjectsApi(cp.kubeconfig);
    policies = new Kind(api, DEFENSE_POLICY, NS);
    blocks = new Kind(api, BLOCK_EVENT, NS);
    rules = new Kind(api, SIGNATURE_RULE, NS);
    const version = JSON.parse((await kubectl(['get', '--raw', '/version'])).stdout) as { minor: string };
    serverMinor = Number.parseInt(version.minor, 10);
    console.error(`# control plane ${cp.server} (external=${cp.external}) ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  });

  after(async () => {
    if (!cp) return;
    if (cp.external || process.env.FLOODGATE_CP_KEEP === '1') {
      await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false'], { reject: false });
      return;
    }
    await stopControlPlane({ stateDir: STATE_DIR, wipe: true });
  });

  describe('installation', () => {
    it('kubectl apply -f crds/ creates both CRDs and they become Established', async () => {
      const { dir } = crdFiles();
      const r = await kubectl(['apply', '-f', dir]);
      assert.match(r.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/defensepolicies\.floodgate\.dev (created|configured|unchanged)/);
      assert.match(r.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/blockevents\.floodgate\.dev (created|configured|unchanged)/);
      assert.equal(r.stderr, '', 'no warnings from the server');
      await kubectl(['wait', '--for=condition=Established', `crd/${DEFENSE_POLICY.crdName}`, `crd/${BLOCK_EVENT.crdName}`, '--timeout=60s']);
      await kubectl(['create', 'namespace', NS]);
    });

    it('the server accepts the schemas as structural, with pruning on', async () => {
      for (const name of [DEFENSE_POLICY.crdName, BLOCK_EVENT.crdName]) {
        const crd = JSON.parse((await kubectl(['get', 'crd', name, '-o', 'json'])).stdout) as {
          spec: { preserveUnknownFields?: boolean };
          status: { conditions: { type: string; status: string }[] };
        };
        const conds = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]));
        assert.equal(conds.Established, 'True');
        assert.equal(conds.NamesAccepted, 'True');
        assert.equal(conds.NonStructuralSchema, undefined, `${name} is not structural`);
        assert.notEqual(crd.spec.preserveUnknownFields, true);
      }
    });

    it('re-applying is a no-op', async () => {
      const r = await kubectl(['apply', '-f', crdFiles().dir]);
      assert.match(r.stdout, /defensepolicies\.floodgate\.dev unchanged/);
      assert.match(r.stdout, /blockevents\.floodgate\.dev unchanged/);
    });

    it('kubectl explain shows the field descriptions (once /openapi/v2 publishes them)', async () => {
      // The schema reaches /openapi/v2 a few seconds after Established; until
      // then explain fails and kubectl's client-side validation (see "unknown
      // fields") has nothing to check against.
      const explain = async (field: string): Promise<string> => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const r = await kubectl(['explain', field], { reject: false });
          if (r.exitCode === 0) return r.stdout.replace(/\s+/g, ' ');
          if (Date.now() > deadline) throw new Error(`kubectl explain ${field}: ${r.stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      };
      const share = await explain('defensepolicy.spec.detection.attackerShareThreshold');
      assert.match(share, /A fraction, not a percentage/);
      assert.match(share, /0\.2 = 20%/);
      assert.match(await explain('blockevent.spec.ip'), /IPv4 or IPv6 address or CIDR to block/);
    });

    it('kubectl api-resources shows the short names and the floodgate category', async () => {
      const r = await kubectl(['api-resources', `--api-group=${GROUP}`, '-o', 'wide']);
      const { rows } = parseTable(r.stdout);
      const byName = Object.fromEntries(rows.map((row) => [row.NAME, row]));
      assert.deepEqual(
        { short: byName.defensepolicies?.SHORTNAMES, kind: byName.defensepolicies?.KIND, cat: byName.defensepolicies?.CATEGORIES, ns: byName.defensepolicies?.NAMESPACED },
        { short: 'dp', kind: 'DefensePolicy', cat: 'floodgate', ns: 'true' },
      );
      assert.deepEqual(
        { short: byName.blockevents?.SHORTNAMES, kind: byName.blockevents?.KIND, cat: byName.blockevents?.CATEGORIES, ns: byName.blockevents?.NAMESPACED },
        { short: 'be', kind: 'BlockEvent', cat: 'floodgate', ns: 'true' },
      );
      assert.deepEqual(
        { short: byName.signaturerules?.SHORTNAMES, kind: byName.signaturerules?.KIND, cat: byName.signaturerules?.CATEGORIES, ns: byName.signaturerules?.NAMESPACED },
        { short: 'sr', kind: 'SignatureRule', cat: 'floodgate', ns: 'true' },
      );
      assert.match(byName.defensepolicies?.APIVERSION ?? '', /^floodgate\.dev\/v1alpha1$/);
      const cat = await kubectl(['api-resources', '--categories=floodgate', '-o', 'name']);
      assert.deepEqual(cat.stdout.trim().split('\n').sort(), ['blockevents.floodgate.dev', 'defensepolicies.floodgate.dev', 'floodgatenodes.floodgate.dev', 'signaturerules.floodgate.dev']);
      assert.deepEqual(
        { short: byName.floodgatenodes?.SHORTNAMES, kind: byName.floodgatenodes?.KIND, ns: byName.floodgatenodes?.NAMESPACED },
        { short: 'fgn', kind: 'FloodgateNode', ns: 'false' },
      );
    });
  });

  describe('valid objects and server-side defaults', () => {
    it('a minimal DefensePolicy gets every default filled by the server (the same as resolving it in the controller)', async () => {
      const created = await policies.create(policy('minimal', { ...AGENTS }));
      const spec = created.spec as DefensePolicy['spec'];
      assert.equal(spec.detection?.windowSeconds, 7);
      assert.equal(spec.detection?.attackerShareThreshold, 0.2);
      assert.equal(spec.mitigation?.banDurationSeconds, 60);
      assert.equal(spec.trigger?.memoryThresholdPercent, 75);
      assert.equal(spec.mitigation?.mode, 'block');
      // Everything the server defaulted is what the controller's TS defaults say.
      const ts = resolveSpec(defensePolicySpecSchema, { ...AGENTS }).spec;
      assert.deepEqual(spec, ts);
      assert.deepEqual(spec.agents, AGENTS.agents);
      assert.equal(created.metadata?.generation, 1);
    });

    it('a full DefensePolicy keeps its values; partial groups get the rest defaulted', async () => {
      const spec = {
        targetSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }] },
        trigger: { memoryThresholdPercent: 80.5, schedule: '*/5 * * * *', continuous: true },
        detection: { windowSeconds: 2.5, attackerShareThreshold: 0.35, maxAttackers: 10 },
        mitigation: {
          mode: 'observe',
          banDurationSeconds: 300,
          escalation: { factor: 3 },
          allowlist: ['10.0.0.0/8', '192.0.2.10', '2001:db8::/32', '::1'],
          maxActiveBlocks: 50,
        },
        agentSelector: { matchLabels: { 'app.kubernetes.io/name': 'floodgate-agent' } },
        agentTokenSecretRef: { name: 'floodgate-agent-token', key: 'token' },
      };
      const got = (await policies.create(policy('full', spec))).spec as DefensePolicy['spec'];
      assert.deepEqual(got.targetSelector, spec.targetSelector);
      assert.deepEqual(got.trigger, { ...spec.trigger, pollIntervalSeconds: 3 });
      assert.deepEqual(got.detection, { ...DEFAULT_THRESHOLDS, ...spec.detection });
      assert.deepEqual(got, resolveSpec(defensePolicySpecSchema, spec).spec, 'the server and the controller resolve alike');
      assert.deepEqual(got.mitigation, {
        ...spec.mitigation,
        escalation: { factor: 3, maxBanDurationSeconds: 86400 },
        signatures: 'auto',
        signatureLimits: { durationSeconds: 300, maxActive: 16, maxDurationSeconds: 86400 },
      });
      assert.deepEqual(got.agentSelector, spec.agentSelector);
      assert.deepEqual(got.agentTokenSecretRef, spec.agentTokenSecretRef);
    });

    it('kubectl apply of a DefensePolicy and a BlockEvent (YAML, short names)', async () => {
      const yaml = `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: { name: web, namespace: ${NS} }
spec:
  targetSelector: { matchLabels: { app: web } }
  agents:
    - url: http://host.docker.internal:12345
      tokenSecretRef: { name: agent-token, key: token }
    - url: https://[fd00::5]:12345
---
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: { name: hand-made, namespace: ${NS} }
spec:
  ip: 203.0.113.7
  durationSeconds: 3600
  reason: abuse report 42
`;
      const r = await kubectl(['apply', '-f', '-'], { input: yaml });
      assert.match(r.stdout, /defensepolicy\.floodgate\.dev\/web created/);
      assert.match(r.stdout, /blockevent\.floodgate\.dev\/hand-made created/);
      const dp = JSON.parse((await kubectl(['get', 'dp', 'web', '-n', NS, '-o', 'json'])).stdout) as DefensePolicy;
      assert.equal(dp.spec.detection?.windowSeconds, 7);
      assert.equal(dp.spec.mitigation?.escalation?.maxBanDurationSeconds, 86400);
      const be = JSON.parse((await kubectl(['get', 'be', 'hand-made', '-n', NS, '-o', 'json'])).stdout) as BlockEvent;
      assert.deepEqual(be.spec, { ip: '203.0.113.7', durationSeconds: 3600, reason: 'abuse report 42' });
      assert.equal(be.status, undefined, 'no status until the controller writes one');
    });

    it('a BlockEvent with policyRef, evidence, agent, IPv6 CIDR', async () => {
      const spec = {
        ip: '2001:db8:dead::/48',
        policyRef: { name: 'web' },
        durationSeconds: 60,
        reason: 'share 0.41 > 0.2',
        evidence: { packets: 41000, share: 0.41, pps: 5857.1, bps: 2811428, vector: 'syn_flood', windowSeconds: 7 },
        agent: 'http://host.docker.internal:12345',
      };
      const got = await blocks.create(block('v6', spec));
      assert.deepEqual(got.spec, spec);
    });

    it('kubectl apply of a SignatureRule (YAML, short name sr); DefensePolicy signatures: disabled stays a string', async () => {
      const yaml = `
apiVersion: floodgate.dev/v1alpha1
kind: SignatureRule
metadata: { name: snmp-amp, namespace: ${NS} }
spec:
  signature: { protocol: udp, destination: 10.10.10.10, sourcePort: 161 }
  action: { type: drop }
  policyRef: { name: web }
  durationSeconds: 600
  vector: udp_amplification
  label: SNMP amplification (udp sport 161)
---
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: { name: quiet, namespace: ${NS} }
spec:
  agents: [{ url: http://host.docker.internal:12345 }]
  mitigation: { signatures: disabled, signatureLimits: { maxActive: 4 } }
`;
      const r = await kubectl(['apply', '-f', '-'], { input: yaml });
      assert.match(r.stdout, /signaturerule\.floodgate\.dev\/snmp-amp created/);
      const got = JSON.parse((await kubectl(['get', 'sr', 'snmp-amp', '-n', NS, '-o', 'json'])).stdout) as { spec: Record<string, unknown> };
      assert.deepEqual(got.spec.signature, { protocol: 'udp', destination: '10.10.10.10', sourcePort: 161 });
      const quiet = JSON.parse((await kubectl(['get', 'dp', 'quiet', '-n', NS, '-o', 'json'])).stdout) as DefensePolicy;
      assert.equal(quiet.spec.mitigation?.signatures, 'disabled');
      assert.deepEqual(quiet.spec.mitigation?.signatureLimits, { durationSeconds: 300, maxActive: 4, maxDurationSeconds: 86400 });
    });

    it('SignatureRules the schema refuses: a range as destination, a port over 65535, an unknown action or flag', async () => {
      const ok = { signature: { protocol: 'udp', destination: '10.10.10.10', sourcePort: 161 }, action: { type: 'drop' }, durationSeconds: 60 };
      await rejects(rules, signatureRule('bad-dst', { ...ok, signature: { protocol: 'udp', destination: '10.10.10.0/24', sourcePort: 161 } }), 'spec.signature.destination');
      await rejects(rules, signatureRule('bad-port', { ...ok, signature: { protocol: 'udp', destination: '10.10.10.10', sourcePort: 70000 } }), 'spec.signature.sourcePort');
      await rejects(rules, signatureRule('bad-action', { ...ok, action: { type: 'blackhole' } }), 'spec.action.type');
      await rejects(rules, signatureRule('bad-flag', { ...ok, signature: { protocol: 'tcp', destination: '10.10.10.10', tcpFlags: { mask: ['syn', 'bogus'], value: ['syn'] } } }), 'spec.signature.tcpFlags.mask');
      await rejects(rules, signatureRule('no-duration', { signature: ok.signature, action: ok.action }), 'spec.durationSeconds');
    });

    it('kubectl get floodgate lists every kind', async () => {
      const r = await kubectl(['get', 'floodgate', '-n', NS, '-o', 'name']);
      const names = r.stdout.trim().split('\n').sort();
      assert.deepEqual(names, [
        'blockevent.floodgate.dev/hand-made',
        'blockevent.floodgate.dev/v6',
        'defensepolicy.floodgate.dev/full',
        'defensepolicy.floodgate.dev/minimal',
        'defensepolicy.floodgate.dev/quiet',
        'defensepolicy.floodgate.dev/web',
        'signaturerule.floodgate.dev/snmp-amp',
      ]);
    });
  });

  describe('invalid objects are rejected by the server with the schema message', () => {
    it('BlockEvent ip 1.2.3.999', async () => { await rejects(blocks, block('bad-ip', { ip: '1.2.3.999', durationSeconds: 60 }), 'spec.ip: Invalid value: "1.2.3.999": spec.ip in body should match'); });

    it('BlockEvent ip "1.2.3.4; rm -rf /"', async () => {
      await rejects(blocks, block('bad-ip2', { ip: '1.2.3.4; rm -rf /', durationSeconds: 60 }), 'spec.ip: Invalid value: "1.2.3.4; rm -rf /": spec.ip in body should match'); });

    it('BlockEvent ip with a zone id, a /33 and an IPv6 /129', async () => {
      for (const ip of ['fe80::1%eth0', '10.0.0.0/33', '2001:db8::/129']) {
        await rejects(blocks, block('bad-ip3', { ip, durationSeconds: 60 }), `spec.ip: Invalid value: "${ip}"`);
      }
    });

    it('kubectl apply shows the same message (server-side, exit code 1)', async () => {
      const r = await kubectl(['apply', '-f', '-'], {
        reject: false,
        input: `apiVersion: floodgate.dev/v1alpha1\nkind: BlockEvent\nmetadata: {name: bad, namespace: ${NS}}\nspec: {ip: 1.2.3.999, durationSeconds: 60}\n`,
      });
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /The BlockEvent "bad" is invalid: spec\.ip: Invalid value: "1\.2\.3\.999": spec\.ip in body should match/);
    });

    it('BlockEvent without ip / durationSeconds, duration 0 and > 30 days, reason > 256', async () => {
      await rejects(blocks, block('b1', { durationSeconds: 60 }), 'spec.ip: Required value');
      await rejects(blocks, block('b2', { ip: '1.2.3.4' }), 'spec.durationSeconds: Required value');
      await rejects(blocks, block('b3', { ip: '1.2.3.4', durationSeconds: 0 }), 'spec.durationSeconds in body should be greater than or equal to 1');
      await rejects(blocks, block('b4', { ip: '1.2.3.4', durationSeconds: 2592001 }), 'spec.durationSeconds in body should be less than or equal to 2592000');
      await rejects(blocks, block('b5', { ip: '1.2.3.4', durationSeconds: 1.5 }), /spec\.durationSeconds: Invalid value: "number": spec\.durationSeconds in body must be of type integer/);
      await rejects(blocks, block('b6', { ip: '1.2.3.4', durationSeconds: 60, reason: 'x'.repeat(257) }), 'spec.reason in body should be at most 256 chars long');
      await rejects(blocks, block('b7', { ip: '1.2.3.4', durationSeconds: 60, evidence: { share: 1.2 } }), 'spec.evidence.share in body should be less than or equal to 1');
    });

    it('a BlockEvent without spec', async () => { await rejects(blocks, { apiVersion: API_VERSION, kind: 'BlockEvent', metadata: { name: 'nospec', namespace: NS } }, 'spec: Required value'); });

    it('DefensePolicy share 1.5 (and 0, and 20 meant as percent)', async () => {
      await rejects(policies, policy('p', { ...AGENTS, detection: { attackerShareThreshold: 1.5 } }), 'spec.detection.attackerShareThreshold: Invalid value: 1.5: spec.detection.attackerShareThreshold in body should be less than or equal to 1');
      await rejects(policies, policy('p', { ...AGENTS, detection: { attackerShareThreshold: 0 } }), 'spec.detection.attackerShareThreshold in body should be greater than 0');
      await rejects(policies, policy('p', { ...AGENTS, detection: { attackerShareThreshold: 20 } }), 'attackerShareThreshold in body should be less than or equal to 1');
    });

    it('DefensePolicy negative (and zero, and > 600) window', async () => {
      await rejects(policies, policy('p', { ...AGENTS, detection: { windowSeconds: -1 } }), 'spec.detection.windowSeconds: Invalid value: -1: spec.detection.windowSeconds in body should be greater than 0');
      await rejects(policies, policy('p', { ...AGENTS, detection: { windowSeconds: 0 } }), 'spec.detection.windowSeconds in body should be greater than 0');
      await rejects(policies, policy('p', { ...AGENTS, detection: { windowSeconds: 601 } }), 'spec.detection.windowSeconds in body should be less than or equal to 600');
    });

    it('DefensePolicy memoryThresholdPercent 150', async () => {
      await rejects(policies, policy('p', { ...AGENTS, trigger: { memoryThresholdPercent: 150 } }), 'spec.trigger.memoryThresholdPercent: Invalid value: 150: spec.trigger.memoryThresholdPercent in body should be less than or equal to 100'); });

    it('DefensePolicy unknown mode', async () => {
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { mode: 'nuke' } }), 'spec.mitigation.mode: Unsupported value: "nuke": supported values: "block", "observe"'); });

    it('DefensePolicy bad allowlist CIDR', async () => {
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { allowlist: ['10.0.0.0/8', '10.0.0.0/33'] } }), 'spec.mitigation.allowlist: Invalid value: "10.0.0.0/33": spec.mitigation.allowlist in body should match');
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { allowlist: ['not-an-ip'] } }), 'Invalid value: "not-an-ip"');
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { allowlist: Array.from({ length: 1001 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) } }), 'spec.mitigation.allowlist: Invalid value: 1001: spec.mitigation.allowlist in body should have at most 1000 items');
    });

    it('DefensePolicy bad agent URL ftp://x', async () => {
      await rejects(policies, policy('p', { agents: [{ url: 'ftp://x' }] }), 'spec.agents.url: Invalid value: "ftp://x": spec.agents.url in body should match'); });

    it('DefensePolicy other bounds: poll interval, maxAttackers, ban duration, escalation factor, cron, selector operator, secret ref', async () => {
      await rejects(policies, policy('p', { ...AGENTS, trigger: { pollIntervalSeconds: 0 } }), 'spec.trigger.pollIntervalSeconds in body should be greater than or equal to 1');
      await rejects(policies, policy('p', { ...AGENTS, detection: { maxAttackers: 10001 } }), 'spec.detection.maxAttackers in body should be less than or equal to 10000');
      await rejects(policies, policy('p', { ...AGENTS, detection: { minPackets: 0 } }), 'spec.detection.minPackets in body should be greater than or equal to 1');
      await rejects(policies, policy('p', { ...AGENTS, detection: { sourcePpsThreshold: 0 } }), 'spec.detection.sourcePpsThreshold in body should be greater than 0');
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { banDurationSeconds: 2592001 } }), 'spec.mitigation.banDurationSeconds in body should be less than or equal to 2592000');
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { escalation: { factor: 0.5 } } }), 'spec.mitigation.escalation.factor in body should be greater than or equal to 1');
      await rejects(policies, policy('p', { ...AGENTS, mitigation: { maxActiveBlocks: 0 } }), 'spec.mitigation.maxActiveBlocks in body should be greater than or equal to 1');
      await rejects(policies, policy('p', { ...AGENTS, trigger: { schedule: '* * *' } }), 'spec.trigger.schedule: Invalid value: "* * *"');
      await rejects(policies, policy('p', { ...AGENTS, trigger: { schedule: '* * * * *; reboot' } }), 'spec.trigger.schedule in body should match');
      await rejects(policies, policy('p', { ...AGENTS, targetSelector: { matchExpressions: [{ key: 'a', operator: 'Like' }] } }), 'spec.targetSelector.matchExpressions.operator: Unsupported value: "Like"');
      await rejects(policies, policy('p', { agents: [{ url: 'http://a:1', tokenSecretRef: { name: 'Not_A_Name', key: 'k' } }] }), 'spec.agents.tokenSecretRef.name in body should match');
      await rejects(policies, policy('p', { agents: [{ url: 'http://a:1', tokenSecretRef: { name: 's' } }] }), 'spec.agents.tokenSecretRef.key: Required value');
    });

    it('DefensePolicy needs exactly one of agents and agentSelector; agent URLs are unique', async () => {
      const none = await rejects(policies, policy('p', { targetSelector: {} }), 'must validate one and only one schema (oneOf). Found none valid', 'spec.agents: Required value');
      assert.match(none, /spec\.agentSelector: Required value|spec\.agents: Required value/);
      await rejects(policies, policy('p', { ...AGENTS, agentSelector: { matchLabels: { a: 'b' } } }), 'must validate one and only one schema (oneOf). Found 2 valid alternatives');
      await rejects(policies, policy('p', { agents: [] }), 'spec.agents: Invalid value: 0: spec.agents in body should have at least 1 items');
      await rejects(policies, policy('p', { agents: Array.from({ length: 65 }, (_, i) => ({ url: `http://10.0.0.${i}:12345` })) }), 'spec.agents: Invalid value: 65: spec.agents in body should have at most 64 items');
      await rejects(policies, policy('p', { agents: [{ url: 'http://a:1' }, { url: 'http://a:1' }] }), 'spec.agents[1]: Duplicate value');
    });

    it('reports every problem of an object at once', async () => {
      const msg = await rejects(
        policies,
        policy('p', { agents: [{ url: 'ftp://x' }], detection: { attackerShareThreshold: 1.5, windowSeconds: -1 }, trigger: { memoryThresholdPercent: 150 }, mitigation: { mode: 'nuke' } }),
      );
      for (const f of ['spec.agents.url', 'spec.detection.attackerShareThreshold', 'spec.detection.windowSeconds', 'spec.trigger.memoryThresholdPercent', 'spec.mitigation.mode']) {
        assert.ok(msg.includes(f), `${f} missing from:\n${msg}`);
      }
    });

    it('nothing invalid was stored', async () => {
      const r = await kubectl(['get', 'floodgate', '-n', NS, '-o', 'name']);
      assert.equal(r.stdout.trim().split('\n').length, 7, "the five objects of the first tests and the valid SignatureRule and DefensePolicy");
    });
  });

  describe('unknown fields', () => {
    const withUnknown = (name: string) =>
      policy(name, { ...AGENTS, bogus: 1, detection: { windowSeconds: 5, windw: 3 }, mitigation: { mode: 'observe', extra: { a: 1 } } });

    it('the API server accepts them and prunes them (no error, no warning on 1.20)', async () => {
      const created = await policies.create({ ...withUnknown('pruned-api'), topLevelJunk: 'x' });
      const spec = created.spec as Record<string, unknown> & { detection: Record<string, unknown>; mitigation: Record<string, unknown> };
      assert.ok(!('bogus' in spec));
      assert.ok(!('windw' in spec.detection));
      assert.ok(!('extra' in spec.mitigation));
      assert.ok(!('topLevelJunk' in created));
      assert.equal(spec.detection.windowSeconds, 5);
      assert.equal(spec.mitigation.mode, 'observe');
      // Pruned before storage, not only in the response.
      const stored = (await policies.get('pruned-api')).spec as Record<string, unknown>;
      assert.ok(!('bogus' in stored));
    });

    it('kubectl apply (default --validate) rejects them client-side from the published OpenAPI schema', async () => {
      const r = await kubectl(['apply', '-f', '-'], { reject: false, input: JSON.stringify(withUnknown('unknown-kubectl')) });
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /unknown field "bogus" in dev\.floodgate\.v1alpha1\.DefensePolicy\.spec/);
      assert.match(r.stderr, /unknown field "windw" in dev\.floodgate\.v1alpha1\.DefensePolicy\.spec\.detection/);
      assert.equal(await policies.tryGet('unknown-kubectl'), undefined, 'nothing was sent');
    });

    it('kubectl apply --validate=false sends them and the server prunes them', async () => {
      const r = await kubectl(['apply', '--validate=false', '-f', '-'], { input: JSON.stringify(withUnknown('unknown-novalidate')) });
      assert.match(r.stdout, /created/);
      const spec = (await policies.get('unknown-novalidate')).spec as Record<string, unknown>;
      assert.ok(!('bogus' in spec));
      assert.ok(!('windw' in (spec.detection as object)));
    });

    it('unknown status fields written through /status are pruned too', async () => {
      const obj = await blocks.create(block('prune-status', { ip: '198.51.100.1', durationSeconds: 60 }));
      const r = await blocks.replaceStatus({ ...obj, status: { phase: 'Active', junk: true } as Obj['status'] });
      assert.ok('ok' in r);
      assert.deepEqual(r.ok.status, { phase: 'Active' });
    });
  });

  describe('status subresource and generation', () => {
    let be: Obj;

    it('a new object has generation 1 and no status; status in a create is dropped', async () => {
      be = await blocks.create({ ...block('status-1', { ip: '192.0.2.99', durationSeconds: 60, policyRef: { name: 'web' } }), status: { phase: 'Active' } });
      assert.equal(be.metadata?.generation, 1);
      assert.equal(be.status, undefined);
    });

    it('an update through /status sets phase and conditions, and does not bump generation', async () => {
      const conditions = setCondition([], { type: BlockEventConditions.Blocked, status: 'True', reason: 'Banned', message: 'nft set floodgate4' }, 1, NOW);
      const status: BlockEvent['status'] = {
        phase: 'Active',
        blockedAt: iso(0),
        expiresAt: iso(60),
        backend: 'nft',
        offenceCount: 1,
        observedGeneration: 1,
        conditions,
      };
      const r = await blocks.replaceStatus({ ...be, status });
      assert.ok('ok' in r, 'err' in r ? r.err.message : '');
      assert.deepEqual(r.ok.status, status);
      assert.equal(r.ok.metadata?.generation, 1);
      be = r.ok;
    });

    it('spec changes in a /status update are ignored', async () => {
      const r = await blocks.replaceStatus({ ...be, spec: { ...be.spec, durationSeconds: 999 }, status: { ...be.status, message: 'still active' } });
      assert.ok('ok' in r);
      assert.equal((r.ok.spec as unknown as BlockEvent['spec']).durationSeconds, 60);
      assert.equal(r.ok.status?.message, 'still active');
      assert.equal(r.ok.metadata?.generation, 1);
      be = r.ok;
    });

    it('a spec update bumps generation and leaves status alone, even if it carries a status', async () => {
      const updated = await blocks.replace({ ...be, spec: { ...be.spec, durationSeconds: 120 }, status: { phase: 'Failed', message: 'overwritten?' } });
      assert.equal(updated.metadata?.generation, 2);
      assert.equal((updated.spec as unknown as BlockEvent['spec']).durationSeconds, 120);
      assert.equal(updated.status?.phase, 'Active');
      assert.equal(updated.status?.message, 'still active');
      assert.equal(updated.status?.observedGeneration, 1, 'the controller has not seen generation 2 yet');
      const patched = await blocks.mergePatch('status-1', { spec: { reason: 'manual' } });
      assert.equal(patched.metadata?.generation, 3);
      assert.equal(patched.status?.phase, 'Active');
    });

    it('metadata-only changes (labels, annotations, finalizers) do not bump generation', async () => {
      const patched = await blocks.mergePatch('status-1', { metadata: { labels: { a: 'b' }, annotations: { x: 'y' }, finalizers: [UNBLOCK_FINALIZER] } });
      assert.equal(patched.metadata?.generation, 3);
      assert.deepEqual(patched.metadata?.finalizers, [UNBLOCK_FINALIZER]);
    });

    it('a merge patch of /status records observedGeneration', async () => {
      const patched = await blocks.mergePatchStatus('status-1', { status: { observedGeneration: 3 } });
      assert.equal(patched.status?.observedGeneration, 3);
      assert.equal(patched.metadata?.generation, 3);
    });

    it('the server validates status: bad phase, duplicate condition type, bad reason, bad time', async () => {
      const cur = await blocks.get('status-1');
      const c = (cur.status?.conditions as unknown[])[0] as Record<string, unknown>;
      const bad = async (status: Record<string, unknown>, fragment: string) => {
        const r = await blocks.replaceStatus({ ...cur, status: { ...cur.status, ...status } as Obj['status'] });
        assert.ok('err' in r, `accepted ${JSON.stringify(status)}`);
        assert.equal(r.err.code, 422);
        assert.ok(r.err.message.includes(fragment), `lacks ${fragment}: ${r.err.message}`);
      };
      await bad({ phase: 'Blocked' }, 'status.phase: Unsupported value: "Blocked"');
      await bad({ conditions: [{ ...c, reason: 'not camel' }] }, 'status.conditions.reason in body should match');
      await bad({ conditions: [{ ...c, status: 'Yes' }] }, 'status.conditions.status: Unsupported value: "Yes"');
      await bad({ conditions: [{ type: 'Blocked', status: 'True' }] }, 'status.conditions.lastTransitionTime: Required value');
      await bad({ expiresAt: 'tomorrow' }, 'status.expiresAt in body must be of type date-time');
    });

    it('duplicate condition types through /status: accepted before Kubernetes 1.26 (kubernetes#106401), so setCondition must upsert', async () => {
      const cur = await blocks.get('status-1');
      const c = cur.status?.conditions?.[0];
      assert.ok(c);
      const r = await blocks.replaceStatus({ ...cur, status: { ...cur.status, conditions: [c, { ...c, reason: 'Again' }] } });
      if (serverMinor < 26) {
        assert.ok('ok' in r, 'err' in r ? r.err.message : '');
        assert.equal((r.ok.status?.conditions as unknown[]).length, 2);
        // Put it right again for the tests below.
        const fixed = await blocks.replaceStatus({ ...r.ok, status: { ...r.ok.status, conditions: [c] } });
        assert.ok('ok' in fixed);
      } else {
        assert.ok('err' in r && r.err.message.includes('status.conditions[1]: Duplicate value'));
      }
      // The main resource (create/update) always enforces it, on 1.20 too:
      await rejects(policies, policy('dup-agents', { agents: [{ url: 'http://a:1' }, { url: 'http://a:1' }] }), 'spec.agents[1]: Duplicate value');
    });

    it('empty strings: release clusters accept "", our Go 1.19 build of 1.20 rejects it (the controller never writes "")', async () => {
      // With Go >= 1.16 the OpenAPI validator vendored in 1.20 takes "" for null
      // (kubernetes#99804, fixed by kube-openapi#230 in 1.21); release binaries
      // of 1.20 (Go 1.15) accept "". The controller therefore never writes an
      // empty string; this test pins which behaviour the cluster under test has.
      const cur = await blocks.get('status-1');
      const c = cur.status?.conditions?.[0];
      assert.ok(c);
      const r = await blocks.replaceStatus({ ...cur, status: { ...cur.status, conditions: [{ ...c, message: '' }] } });
      if (cp.external) assert.ok('ok' in r, 'err' in r ? r.err.message : '');
      else assert.ok('err' in r && /must be of type string/.test(r.err.message), 'the local build rejects ""');
    });

    it('a DefensePolicy status with conditions, lastTrigger, lastAnalysis, activeBlocks', async () => {
      const cur = await policies.get('web');
      let conditions = setCondition([], { type: DefensePolicyConditions.Ready, status: 'True', reason: 'Polling', message: '2 agents' }, 1, NOW);
      conditions = setCondition(conditions, { type: DefensePolicyConditions.AgentsReachable, status: 'True', reason: 'AllReachable', message: '2/2 agents answered' }, 1, NOW);
      conditions = setCondition(conditions, { type: DefensePolicyConditions.UnderAttack, status: 'True', reason: 'AttackDetected', message: 'syn_flood on 10.0.0.5' }, 1, NOW);
      const status: DefensePolicy['status'] = {
        observedGeneration: 1,
        conditions,
        lastTrigger: { time: iso(-30), reason: 'memory', pod: `${NS}/web-0`, memoryPercent: 81.5 },
        lastAnalysis: {
          time: iso(-20),
          underAttack: true,
          victims: ['10.0.0.5'],
          vectors: ['syn_flood'],
          topSources: [{ ip: '203.0.113.7', packets: 41000, share: 0.41 }],
        },
        activeBlocks: 3,
      };
      const r = await policies.replaceStatus({ ...cur, status });
      assert.ok('ok' in r, 'err' in r ? r.err.message : '');
      assert.deepEqual(r.ok.status, status);
      assert.equal(r.ok.metadata?.generation, 1);
      const bad = await policies.replaceStatus({ ...r.ok, status: { ...status, lastTrigger: { time: iso(0), reason: 'boredom' } } as unknown as Obj['status'] });
      assert.ok('err' in bad && bad.err.message.includes('status.lastTrigger.reason: Unsupported value: "boredom"'));
    });

    it('the finalizer holds a deleted BlockEvent until it is removed', async () => {
      await blocks.create({ ...block('finalized', { ip: '192.0.2.50', durationSeconds: 60 }), metadata: { name: 'finalized', namespace: NS, finalizers: [UNBLOCK_FINALIZER] } });
      await blocks.delete('finalized');
      const held = await blocks.get('finalized');
      assert.ok(held.metadata?.deletionTimestamp, 'deletionTimestamp set');
      await blocks.mergePatch('finalized', { metadata: { finalizers: null } });
      assert.equal(await blocks.tryGet('finalized'), undefined);
    });
  });

  describe('printer columns', () => {
    it('kubectl get dp shows Ready, Under Attack, Active Blocks, Signature Rules, Window, Share, Age', async () => {
      const { headers, rows } = parseTable((await kubectl(['get', 'dp', '-n', NS])).stdout);
      assert.deepEqual(headers, ['NAME', 'READY', 'UNDER ATTACK', 'ACTIVE BLOCKS', 'SIGNATURE RULES', 'WINDOW', 'SHARE', 'AGE']);
      const web = rows.find((r) => r.NAME === 'web');
      assert.deepEqual({ ...web, AGE: undefined }, {
        NAME: 'web', READY: 'True', 'UNDER ATTACK': 'True', 'ACTIVE BLOCKS': '3', 'SIGNATURE RULES': '', WINDOW: '7', SHARE: '0.2', AGE: undefined,
      });
      assert.match(web?.AGE ?? '', /^\d+(s|m)/);
      const full = rows.find((r) => r.NAME === 'full');
      assert.deepEqual([full?.READY, full?.WINDOW, full?.SHARE], ['', '2.5', '0.35']);
    });

    it('kubectl get dp -o wide adds Nodes, Mode, Signatures, Ban Duration, Memory %, Last Trigger', async () => {
      const { headers, rows } = parseTable((await kubectl(['get', 'dp', '-n', NS, '-o', 'wide'])).stdout);
      assert.deepEqual(headers, ['NAME', 'READY', 'UNDER ATTACK', 'ACTIVE BLOCKS', 'SIGNATURE RULES', 'WINDOW', 'SHARE', 'AGE', 'NODES', 'MODE', 'SIGNATURES', 'BAN DURATION', 'MEMORY %', 'LAST TRIGGER']);
      assert.equal(rows.find((r) => r.NAME === 'quiet')?.SIGNATURES, 'disabled');
      const web = rows.find((r) => r.NAME === 'web');
      assert.deepEqual([web?.MODE, web?.['BAN DURATION'], web?.['MEMORY %']], ['block', '60', '75']);
      assert.match(web?.['LAST TRIGGER'] ?? '', /^\d+s$/);
      const full = rows.find((r) => r.NAME === 'full');
      assert.deepEqual([full?.MODE, full?.['BAN DURATION'], full?.['MEMORY %'], full?.['LAST TRIGGER']], ['observe', '300', '80.5', '']);
    });

    it('kubectl get be shows IP, Policy, Phase, Reason, Expires, Nodes, Age', async () => {
      const { headers, rows } = parseTable((await kubectl(['get', 'be', '-n', NS])).stdout);
      assert.deepEqual(headers, ['NAME', 'IP', 'POLICY', 'PHASE', 'REASON', 'EXPIRES', 'NODES', 'AGE']);
      const s = rows.find((r) => r.NAME === 'status-1');
      assert.deepEqual([s?.IP, s?.POLICY, s?.PHASE, s?.REASON, s?.EXPIRES], ['192.0.2.99', 'web', 'Active', 'manual', iso(60)]);
      const hand = rows.find((r) => r.NAME === 'hand-made');
      assert.deepEqual([hand?.IP, hand?.POLICY, hand?.PHASE, hand?.REASON, hand?.EXPIRES], ['203.0.113.7', '', '', 'abuse report 42', '']);
    });

    it('kubectl get be -o wide adds Agent, Backend, Vector, PPS', async () => {
      const { headers, rows } = parseTable((await kubectl(['get', 'be', '-n', NS, '-o', 'wide'])).stdout);
      assert.deepEqual(headers, ['NAME', 'IP', 'POLICY', 'PHASE', 'REASON', 'EXPIRES', 'NODES', 'AGE', 'AGENT', 'BACKEND', 'VECTOR', 'PPS']);
      const v6 = rows.find((r) => r.NAME === 'v6');
      assert.deepEqual([v6?.IP, v6?.AGENT, v6?.VECTOR, v6?.PPS], ['2001:db8:dead::/48', 'http://host.docker.internal:12345', 'syn_flood', '5857.1']);
      assert.equal(rows.find((r) => r.NAME === 'status-1')?.BACKEND, 'nft');
    });

    it('kubectl get sr shows Victim, Vector, Rule, Phase, Dropped, Expires, Age; -o wide adds Nodes, Policy, Applied, PPS, Agents, Backend', async () => {
      const { headers, rows } = parseTable((await kubectl(['get', 'sr', '-n', NS])).stdout);
      assert.deepEqual(headers, ['NAME', 'VICTIM', 'VECTOR', 'RULE', 'PHASE', 'DROPPED', 'EXPIRES', 'AGE']);
      const amp = rows.find((r) => r.NAME === 'snmp-amp');
      assert.deepEqual([amp?.VICTIM, amp?.VECTOR], ['10.10.10.10', 'udp_amplification']);
      const wide = parseTable((await kubectl(['get', 'sr', '-n', NS, '-o', 'wide'])).stdout);
      assert.deepEqual(wide.headers, ['NAME', 'VICTIM', 'VECTOR', 'RULE', 'PHASE', 'DROPPED', 'EXPIRES', 'AGE', 'NODES', 'POLICY', 'APPLIED', 'PPS', 'AGENTS', 'BACKEND']);
      assert.equal(wide.rows.find((r) => r.NAME === 'snmp-amp')?.POLICY, 'web');
    });

    it('kubectl get floodgate prints one table per kind', async () => {
      const out = (await kubectl(['get', 'floodgate', '-n', NS])).stdout;
      assert.match(out, /^NAME +READY +UNDER ATTACK +ACTIVE BLOCKS +SIGNATURE RULES +WINDOW +SHARE +AGE$/m);
      assert.match(out, /^NAME +IP +POLICY +PHASE +REASON +EXPIRES +NODES +AGE$/m);
      assert.match(out, /^defensepolicy\.floodgate\.dev\/web /m);
      assert.match(out, /^blockevent\.floodgate\.dev\/v6 /m);
      assert.match(out, /^NAME +VICTIM +VECTOR +RULE +PHASE +DROPPED +EXPIRES +AGE$/m);
      assert.match(out, /^signaturerule\.floodgate\.dev\/snmp-amp +10\.10\.10\.10 /m);
    });
  });
});
