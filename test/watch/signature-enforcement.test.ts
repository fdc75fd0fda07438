// SignatureRules → an agent's signature rules (agent/kube/signature-enforcement.ts),
// through the agent's one entry point for rules (the real SignatureManager,
// dry-run firewall): held for the policy's agents for the rest of the window
// capped by the policy's limit, unsafe rules refused here, lifted when the
// object goes, and what a restart left behind. Unit tier.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { SignatureManager, hostAddresses } from '../../agent/signatures/signature-manager.js';
import { SignatureStore } from '../../agent/signatures/signature-store.js';
import { SynproxySettings } from '../../agent/signatures/synproxy-settings.js';
import { SignatureEnforcement } from '../../agent/kube/signature-enforcement.js';
import type { AgentSelf } from '../../agent/kube/agent-self.js';
import { signatureId } from '../../api/signature-rule.js';
import { DEFENSE_POLICY, resolved, type DefensePolicy, type SignatureRule } from '../../api/v1alpha1/index.js';
import { fakeClock, tempStateDir, testPolicy } from '../bans/setup.js';

const VICTIM = '10.1.2.3'; // the test host's own address (test/bans/setup.ts)
const T0 = Date.parse('2026-01-01T00:00:00Z');
const SELF: AgentSelf = { node: 'node-a', labels: { app: 'agent' }, namespace: 'floodgate' };
const policy = (limits: Record<string, unknown> = {}): DefensePolicy =>
  resolved(DEFENSE_POLICY, {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'DefensePolicy',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { agentSelector: { matchLabels: { app: 'agent' } }, agentTokenSecretRef: { name: 't', key: 'token', namespace: 'floodgate' }, mitigation: { signatureLimits: limits } },
  } as never);

function rule(name: string, o: { sourcePort?: number; duration?: number; deleting?: boolean; action?: SignatureRule['spec']['action'] } = {}): SignatureRule {
  return {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'SignatureRule',
    metadata: { name, namespace: 'shop', creationTimestamp: new Date(T0).toISOString() as never, ...(o.deleting ? { deletionTimestamp: new Date(T0).toISOString() as never } : {}) },
    spec: {
      signature: { protocol: 'udp', destination: VICTIM, sourcePort: o.sourcePort ?? 161 },
      action: o.action ?? { type: 'drop' },
      policyRef: { name: 'web' },
      durationSeconds: o.duration ?? 600,
      vector: 'udp_amplification',
      reason: 'SNMP amplification',
    },
  } as SignatureRule;
}

let manager: SignatureManager;
let enforcement: SignatureEnforcement;
let clock: ReturnType<typeof fakeClock>;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const state = await tempStateDir();
  cleanup = state.cleanup;
  clock = fakeClock(T0);
  const address = await testPolicy();
  const sys = { read: async () => undefined, write: async () => undefined, mtu: async () => 1500 };
  manager = new SignatureManager({
    firewall: new DryRunBackend().signatures,
    backendName: 'dry-run',
    store: new SignatureStore(state.dir),
    host: hostAddresses(address, [`${VICTIM}/32`]),
    synproxy: new SynproxySettings('disabled', sys, pino({ level: 'silent' })),
    limits: { maxActiveRules: 64, maxDurationSeconds: 86400 },
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    now: clock.now,
  });
  await manager.start({ timers: false });
  enforcement = new SignatureEnforcement({ self: SELF, signatures: manager, logger: pino({ level: 'silent' }), now: clock.now });
});

afterEach(async () => {
  await manager.stop();
  await cleanup();
});

describe('SignatureRules to signature rules on one agent', () => {
  it('holds the rule of a policy that picks this agent, source controller, until its window ends; lifts it when deleted', async () => {
    const state = await enforcement.reconcile([rule('snmp')], [policy()], true);
    assert.equal(state.applied, 1);
    const [held] = manager.list();
    assert.equal(held?.id, signatureId({ protocol: 'udp', destination: VICTIM, sourcePort: 161 }));
    assert.equal(held?.source, 'controller');
    assert.equal(held?.policy, 'web');
    assert.equal(Date.parse(held?.expiresAt ?? ''), T0 + 600_000);
    await enforcement.reconcile([rule('snmp', { deleting: true })], [policy()], true);
    assert.deepEqual(manager.list(), []);
  });

  it("the policy's signatureLimits.maxDurationSeconds caps the window", async () => {
    await enforcement.reconcile([rule('snmp', { duration: 3600 })], [policy({ maxDurationSeconds: 900 })], true);
    assert.equal(Date.parse(manager.list()[0]?.expiresAt ?? ''), T0 + 900_000);
  });

  it('an unsafe rule is refused here, as the controller refuses it, and reported', async () => {
    const state = await enforcement.reconcile([rule('every-port', { action: { type: 'drop' } }), { ...rule('syn'), spec: { ...rule('syn').spec, signature: { protocol: 'tcp', destination: VICTIM, destinationPort: 80, tcpFlags: { mask: ['syn', 'ack', 'rst'], value: ['syn'] } } } } as SignatureRule], [policy()], true);
    assert.equal(state.applied, 1);
    assert.equal(state.failures.length, 1);
    assert.equal(state.failures[0]?.kind, 'SignatureRule');
    assert.match(state.failures[0]?.message ?? '', /blanket drop of SYNs/);
  });

  it('lifts rules it made for objects gone while it was away, never its own', async () => {
    await manager.applySignatures([{ match: { protocol: 'udp', destination: VICTIM, sourcePort: 19 }, action: { type: 'drop' }, durationSeconds: 600, reason: 'left from before', policy: 'web', source: 'controller' }]);
    await manager.applySignatures([{ match: { protocol: 'udp', destination: VICTIM, sourcePort: 123 }, action: { type: 'drop' }, durationSeconds: 600, reason: 'its own verdict', source: 'auto' }]);
    await enforcement.reconcile([], [policy()], true);
    assert.deepEqual(manager.list().map((r) => r.match.sourcePort), [123]);
  });
});
