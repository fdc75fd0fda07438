/**
 * Static checks of the CRD manifests (no API server): names, conventions,
 * that every field is described, that the validation patterns and defaults
 * are the ones api/v1alpha1 resolves, and that the patterns accept and reject
 * what they should (cross-checked with the agent's own IP parser).
 *
 *   node --import tsx --test test/crds/crd-schema.test.ts
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ipOrCidr } from '../../native/lib/capture-options.js';
import { crdFiles, findRepoRoot } from '../../deploy/crd-files.js';
import {
  AGENT_URL_PATTERN,
  AGENT_URL_RE,
  BLOCK_EVENT,
  BLOCK_EVENT_PHASES,
  CATEGORY,
  CONDITION_REASON_PATTERN,
  CONDITION_REASON_RE,
  CONDITION_TYPE_PATTERN,
  CRON_PATTERN,
  CRON_RE,
  DEFENSE_POLICY,
  FLOODGATE_NODE,
  GROUP,
  IP_OR_CIDR_PATTERN,
  IP_OR_CIDR_RE,
  IP_PATTERN,
  SIGNATURE_RULE,
  VERSION,
  defensePolicySpecSchema,
  resolveSpec,
  type ResourceDescriptor,
} from '../../api/v1alpha1/index.js';
import { readCrd, schemaAt, type CrdDoc, type SchemaNode } from './helpers.js';

const files = crdFiles();
const dp = readCrd(files.defensePolicy);
const be = readCrd(files.blockEvent);
const fgn = readCrd(files.floodgateNode);
const sr = readCrd(files.signatureRule);

function version(crd: CrdDoc) {
  const v = crd.spec.versions[0];
  assert.ok(v);
  return v;
}
const dpSchema = version(dp).schema.openAPIV3Schema;
const beSchema = version(be).schema.openAPIV3Schema;
const fgnSchema = version(fgn).schema.openAPIV3Schema;
const srSchema = version(sr).schema.openAPIV3Schema;

/** Every schema node with its dotted path. */
function* walk(node: SchemaNode, at = ''): Generator<[string, SchemaNode]> {
  yield [at, node];
  for (const [k, child] of Object.entries(node.properties ?? {})) yield* walk(child, at ? `${at}.${k}` : k);
  if (node.items) yield* walk(node.items, `${at}.[]`);
  if (typeof node.additionalProperties === 'object') yield* walk(node.additionalProperties, `${at}.{}`);
}

describe('crd-files', () => {
  it('finds the repo root and every manifest', () => {
    assert.match(findRepoRoot(), /\/[^/]+$/);
    assert.deepEqual(files.all, [files.defensePolicy, files.blockEvent, files.signatureRule, files.floodgateNode]);
    assert.match(files.floodgateNode, /crds\/floodgatenodes\.floodgate\.dev\.yaml$/);
    assert.match(files.signatureRule, /crds\/signaturerules\.floodgate\.dev\.yaml$/);
    assert.match(files.defensePolicy, /crds\/defensepolicies\.floodgate\.dev\.yaml$/);
    assert.match(files.blockEvent, /crds\/blockevents\.floodgate\.dev\.yaml$/);
  });
});

for (const [crd, rd, schema] of [
  [dp, DEFENSE_POLICY, dpSchema],
  [be, BLOCK_EVENT, beSchema],
  [sr, SIGNATURE_RULE, srSchema],
  [fgn, FLOODGATE_NODE, fgnSchema],
] as [CrdDoc, ResourceDescriptor, SchemaNode][]) {
  describe(`${rd.kind} manifest`, () => {
    it('is an apiextensions.k8s.io/v1 CRD with the descriptor names', () => {
      assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
      assert.equal(crd.kind, 'CustomResourceDefinition');
      assert.equal(crd.metadata.name, rd.crdName);
      assert.equal(crd.spec.group, GROUP);
      assert.equal(crd.spec.scope, rd.scope);
      assert.deepEqual(crd.spec.names, {
        kind: rd.kind,
        listKind: rd.listKind,
        plural: rd.plural,
        singular: rd.singular,
        shortNames: [...rd.shortNames],
        categories: [CATEGORY],
      });
      assert.notEqual(crd.spec.preserveUnknownFields, true, 'pruning must stay on');
    });

    it('serves and stores v1alpha1 with the status subresource', () => {
      assert.equal(crd.spec.versions.length, 1);
      const v = version(crd);
      assert.equal(v.name, VERSION);
      assert.equal(v.served, true);
      assert.equal(v.storage, true);
      assert.deepEqual(v.subresources, { status: {} });
    });

    it('has a description on every field and a type on every node', () => {
      for (const [at, node] of walk(schema)) {
        if (at === 'metadata') continue;
        assert.ok(node.type, `${at || '<root>'} has no type (not structural)`);
        if (at.endsWith('.{}') || (at.endsWith('.[]') && node.type !== 'object')) continue;
        assert.ok(node.description && node.description.length > 8, `${at || '<root>'} has no description`);
      }
    });

    it('uses OpenAPI v3 validation only (no CEL: the API server may be 1.20)', () => {
      const text = JSON.stringify(crd);
      assert.doesNotMatch(text, /x-kubernetes-validations/);
    });

    it('requires spec and describes conditions as metav1.Condition (list-map on type)', () => {
      assert.deepEqual(schema.required, ['spec']);
      const conditions = schemaAt(schema, 'status.conditions');
      assert.equal(conditions['x-kubernetes-list-type'], 'map');
      assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
      const item = schemaAt(schema, 'status.conditions.[]');
      assert.deepEqual([...(item.required ?? [])].sort(), ['lastTransitionTime', 'message', 'reason', 'status', 'type']);
      assert.deepEqual(schemaAt(schema, 'status.conditions.[].status').enum, ['True', 'False', 'Unknown']);
      assert.equal(schemaAt(schema, 'status.conditions.[].reason').pattern, CONDITION_REASON_PATTERN);
      assert.equal(schemaAt(schema, 'status.conditions.[].type').pattern, CONDITION_TYPE_PATTERN);
      assert.equal(schemaAt(schema, 'status.conditions.[].lastTransitionTime').format, 'date-time');
      assert.equal(schemaAt(schema, 'status.observedGeneration').type, 'integer');
    });

    it('ends the default columns with Age and lists detail columns after it at priority 1', () => {
      const cols = version(crd).additionalPrinterColumns ?? [];
      const age = cols.findIndex((c) => c.name === 'Age');
      assert.ok(age > 0);
      assert.deepEqual(cols[age], { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
      cols.forEach((c, i) => assert.equal(c.priority ?? 0, i > age ? 1 : 0, `column ${c.name}`));
    });
  });
}

describe('DefensePolicy schema', () => {
  it('has the defaults that resolving an empty spec gives (api/v1alpha1)', () => {
    const D = resolveSpec(defensePolicySpecSchema, {}).spec;
    for (const group of ['trigger', 'detection', 'mitigation'] as const) {
      assert.deepEqual(schemaAt(dpSchema, `spec.${group}`).default, {}, `${group} defaults to {} so its fields get defaults`);
      for (const [k, v] of Object.entries(D[group])) {
        if (k === 'escalation' || k === 'signatureLimits') continue;
        assert.equal(schemaAt(dpSchema, `spec.${group}.${k}`).default, v, `spec.${group}.${k}`);
      }
    }
    assert.deepEqual(schemaAt(dpSchema, 'spec.mitigation.escalation').default, {});
    assert.deepEqual(schemaAt(dpSchema, 'spec.mitigation.signatureLimits').default, {});
    for (const [k, v] of Object.entries(D.mitigation.signatureLimits)) assert.equal(schemaAt(dpSchema, `spec.mitigation.signatureLimits.${k}`).default, v, k);
    assert.equal(schemaAt(dpSchema, 'spec.mitigation.escalation.factor').default, D.mitigation.escalation.factor);
    assert.equal(
      schemaAt(dpSchema, 'spec.mitigation.escalation.maxBanDurationSeconds').default,
      D.mitigation.escalation.maxBanDurationSeconds,
    );
    assert.equal(schemaAt(dpSchema, 'spec.detection.windowSeconds').default, 7);
    assert.equal(schemaAt(dpSchema, 'spec.detection.attackerShareThreshold').default, 0.2);
    assert.equal(schemaAt(dpSchema, 'spec.trigger.memoryThresholdPercent').default, 75);
    assert.equal(schemaAt(dpSchema, 'spec.mitigation.banDurationSeconds').default, 60);
  });

  it('bounds the fields as specified', () => {
    const b = (p: string) => {
      const n = schemaAt(dpSchema, p);
      return { type: n.type, min: n.minimum, xmin: n.exclusiveMinimum ?? false, max: n.maximum };
    };
    assert.deepEqual(b('spec.trigger.memoryThresholdPercent'), { type: 'number', min: 0, xmin: false, max: 100 });
    assert.deepEqual(b('spec.trigger.pollIntervalSeconds'), { type: 'integer', min: 1, xmin: false, max: 3600 });
    assert.deepEqual(b('spec.detection.windowSeconds'), { type: 'number', min: 0, xmin: true, max: 600 });
    assert.deepEqual(b('spec.detection.attackerShareThreshold'), { type: 'number', min: 0, xmin: true, max: 1 });
    assert.deepEqual(b('spec.detection.minPackets'), { type: 'integer', min: 1, xmin: false, max: undefined });
    assert.deepEqual(b('spec.detection.sourcePpsThreshold'), { type: 'number', min: 0, xmin: true, max: undefined });
    assert.deepEqual(b('spec.detection.victimPpsThreshold'), { type: 'number', min: 0, xmin: true, max: undefined });
    assert.deepEqual(b('spec.detection.maxAttackers'), { type: 'integer', min: 1, xmin: false, max: 10000 });
    assert.deepEqual(b('spec.mitigation.banDurationSeconds'), { type: 'integer', min: 1, xmin: false, max: 2592000 });
    assert.deepEqual(b('spec.mitigation.escalation.factor'), { type: 'number', min: 1, xmin: false, max: 100 });
    assert.deepEqual(b('spec.mitigation.maxActiveBlocks'), { type: 'integer', min: 1, xmin: false, max: 100000 });
    assert.deepEqual(schemaAt(dpSchema, 'spec.mitigation.mode').enum, ['block', 'observe']);
    assert.equal(schemaAt(dpSchema, 'spec.mitigation.allowlist').maxItems, 1000);
    assert.equal(schemaAt(dpSchema, 'spec.agents').maxItems, 64);
    assert.deepEqual(schemaAt(dpSchema, 'status.lastTrigger.reason').enum, ['memory', 'schedule', 'continuous', 'manual']);
  });

  it('says that the share is a fraction', () => {
    const d = schemaAt(dpSchema, 'spec.detection.attackerShareThreshold').description ?? '';
    assert.match(d, /fraction/);
    assert.match(d, /0\.2 = 20%/);
  });

  it('uses the patterns of api/v1alpha1/types.ts', () => {
    assert.equal(schemaAt(dpSchema, 'spec.mitigation.allowlist.[]').pattern, IP_OR_CIDR_PATTERN);
    assert.equal(schemaAt(dpSchema, 'spec.trigger.schedule').pattern, CRON_PATTERN);
    assert.equal(schemaAt(dpSchema, 'spec.agents.[].url').pattern, AGENT_URL_PATTERN);
  });

  it('requires exactly one of agents and agentSelector (oneOf), agents unique by url', () => {
    assert.deepEqual(schemaAt(dpSchema, 'spec').oneOf, [{ required: ['agents'] }, { required: ['agentSelector'] }]);
    const agents = schemaAt(dpSchema, 'spec.agents');
    assert.equal(agents['x-kubernetes-list-type'], 'map');
    assert.deepEqual(agents['x-kubernetes-list-map-keys'], ['url']);
  });

  it('has the label-selector shape for targetSelector and agentSelector', () => {
    for (const sel of ['spec.targetSelector', 'spec.agentSelector']) {
      assert.deepEqual(Object.keys(schemaAt(dpSchema, sel).properties ?? {}).sort(), ['matchExpressions', 'matchLabels']);
      assert.deepEqual(schemaAt(dpSchema, `${sel}.matchExpressions.[]`).required, ['key', 'operator']);
      assert.deepEqual(schemaAt(dpSchema, `${sel}.matchLabels`).additionalProperties, { type: 'string' });
    }
  });

  it('has the printer columns', () => {
    const cols = (version(dp).additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath, c.priority ?? 0]);
    assert.deepEqual(cols, [
      ['Ready', '.status.conditions[?(@.type=="Ready")].status', 0],
      ['Under Attack', '.status.conditions[?(@.type=="UnderAttack")].status', 0],
      ['Active Blocks', '.status.activeBlocks', 0],
      ['Signature Rules', '.status.activeSignatureRules', 0],
      ['Window', '.spec.detection.windowSeconds', 0],
      ['Share', '.spec.detection.attackerShareThreshold', 0],
      ['Age', '.metadata.creationTimestamp', 0],
      ['Nodes', '.status.enforcingNodes', 1],
      ['Mode', '.spec.mitigation.mode', 1],
      ['Signatures', '.spec.mitigation.signatures', 1],
      ['Ban Duration', '.spec.mitigation.banDurationSeconds', 1],
      ['Memory %', '.spec.trigger.memoryThresholdPercent', 1],
      ['Last Trigger', '.status.lastTrigger.time', 1],
    ]);
  });
});

describe('BlockEvent schema', () => {
  it('requires ip and durationSeconds, validated', () => {
    assert.deepEqual(schemaAt(beSchema, 'spec').required, ['ip', 'durationSeconds']);
    assert.equal(schemaAt(beSchema, 'spec.ip').pattern, IP_OR_CIDR_PATTERN);
    const d = schemaAt(beSchema, 'spec.durationSeconds');
    assert.deepEqual([d.type, d.minimum, d.maximum], ['integer', 1, 2592000]);
    assert.equal(schemaAt(beSchema, 'spec.reason').maxLength, 256);
    const share = schemaAt(beSchema, 'spec.evidence.share');
    assert.deepEqual([share.minimum, share.maximum], [0, 1]);
    assert.deepEqual(schemaAt(beSchema, 'status.phase').enum, [...BLOCK_EVENT_PHASES]);
    assert.equal(schemaAt(beSchema, 'status.expiresAt').format, 'date-time');
  });

  it('has the printer columns (Expires as a string: a future "date" prints <invalid>)', () => {
    const cols = (version(be).additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath, c.priority ?? 0]);
    assert.deepEqual(cols, [
      ['IP', '.spec.ip', 0],
      ['Policy', '.spec.policyRef.name', 0],
      ['Phase', '.status.phase', 0],
      ['Reason', '.spec.reason', 0],
      ['Expires', '.status.expiresAt', 0],
      ['Nodes', '.status.nodes.summary', 0],
      ['Age', '.metadata.creationTimestamp', 0],
      ['Agent', '.spec.agent', 1],
      ['Backend', '.status.backend', 1],
      ['Vector', '.spec.evidence.vector', 1],
      ['PPS', '.spec.evidence.pps', 1],
    ]);
    const expires = version(be).additionalPrinterColumns?.find((c) => c.name === 'Expires');
    assert.deepEqual([expires?.type, expires?.format], ['string', 'date-time']);
  });
});

describe('SignatureRule schema', () => {
  it('requires the signature, the action and the duration; the destination is one address', () => {
    assert.deepEqual(schemaAt(srSchema, 'spec').required, ['signature', 'action', 'durationSeconds']);
    assert.equal(schemaAt(srSchema, 'spec.signature.destination').pattern, IP_PATTERN);
    assert.equal(schemaAt(srSchema, 'spec.signature.source').pattern, IP_OR_CIDR_PATTERN);
    const port = schemaAt(srSchema, 'spec.signature.destinationPort');
    assert.deepEqual([port.type, port.minimum, port.maximum], ['integer', 0, 65535]);
    assert.deepEqual(schemaAt(srSchema, 'spec.action.type').enum, ['drop', 'limit', 'synproxy', 'drop-invalid']);
    assert.deepEqual(schemaAt(srSchema, 'spec.signature.tcpFlags.mask.[]').enum, ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr']);
    assert.deepEqual(schemaAt(srSchema, 'status.phase').enum, [...BLOCK_EVENT_PHASES]);
    assert.equal(schemaAt(srSchema, 'status.packetsDropped').format, 'int64');
  });

  it('has the printer columns: victim, vector, rule, phase, packets dropped, expiry; details at priority 1', () => {
    const cols = (version(sr).additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath, c.priority ?? 0]);
    assert.deepEqual(cols, [
      ['Victim', '.spec.signature.destination', 0],
      ['Vector', '.spec.vector', 0],
      ['Rule', '.status.rule', 0],
      ['Phase', '.status.phase', 0],
      ['Dropped', '.status.packetsDropped', 0],
      ['Expires', '.status.expiresAt', 0],
      ['Age', '.metadata.creationTimestamp', 0],
      ['Nodes', '.status.nodes.summary', 1],
      ['Policy', '.spec.policyRef.name', 1],
      ['Applied', '.status.applied', 1],
      ['PPS', '.status.dropRatePps', 1],
      ['Agents', '.status.agentsHolding', 1],
      ['Backend', '.status.backend', 1],
    ]);
    assert.deepEqual(sr.spec.names.shortNames, ['sr']);
    assert.deepEqual(sr.spec.names.categories, [CATEGORY]);
  });

  it('names the DefensePolicy signature modes so that YAML 1.1 readers keep them strings (no "off")', () => {
    assert.deepEqual(schemaAt(dpSchema, 'spec.mitigation.signatures').enum, ['auto', 'propose', 'disabled']);
  });
});

// ---------------------------------------------------------------------------
// The patterns themselves. The API server evaluates them with Go's RE2; these
// expressions use nothing whose meaning differs between RE2 and JS.

const agentAccepts = (s: string) => ipOrCidr.safeParse(s).success;

describe('IP_OR_CIDR_PATTERN', () => {
  const good = [
    '1.2.3.4', '0.0.0.0', '255.255.255.255', '0.0.0.0/0', '10.0.0.0/8', '192.0.2.1/32', '198.51.100.0/24',
    '::', '::1', '::/0', 'fe80::1', '2001:db8::/32', '2001:db8::1/128', '2001:DB8::ABCD', '1::', '1:2:3:4:5:6:7::',
    '2001:db8:0:0:0:0:0:1', '::ffff:1.2.3.4', '::ffff:0:1.2.3.4', '::1.2.3.4', '64:ff9b::1.2.3.4', '1:2:3:4:5:6:1.2.3.4',
  ];
  const bad = [
    '1.2.3.999', '1.2.3.4; rm -rf /', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '1.2.3.4/33', '1.2.3.4/024',
    '1.2.3.4/', '1.2.3.4/-1', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4\n', '::1/129', '::1/0128', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9',
    ':::', '1::2::3', '12345::', 'g::1', '', 'localhost', '1.2.3.4/8/8', '$(reboot)', '::ffff:1.2.3.999',
  ];

  for (const s of good) {
    it(`accepts ${JSON.stringify(s)} (and so does the agent)`, () => {
      assert.ok(IP_OR_CIDR_RE.test(s));
      assert.ok(agentAccepts(s), `agent's ipOrCidr rejects ${s}`);
    });
  }
  for (const s of bad) {
    it(`rejects ${JSON.stringify(s)}`, () => assert.ok(!IP_OR_CIDR_RE.test(s)));
  }

  it('agrees with net.isIP / the agent on random IPv4 and IPv6 addresses, full and compressed', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const v4 = [rnd(256), rnd(256), rnd(256), rnd(256)].join('.');
      const groups = Array.from({ length: 8 }, () => (rnd(3) === 0 ? 0 : rnd(65536)).toString(16));
      const full = groups.join(':');
      const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      for (const s of [v4, `${v4}/${rnd(33)}`, full, compressed, `${compressed}/${rnd(129)}`]) {
        assert.ok(IP_OR_CIDR_RE.test(s), `pattern rejects ${s}`);
        assert.ok(agentAccepts(s), `agent rejects ${s}`);
      }
      const broken = `${v4.slice(0, -1)}${256 + rnd(700)}`;
      assert.equal(net.isIP(broken), 0);
      assert.ok(!IP_OR_CIDR_RE.test(broken), `pattern accepts ${broken}`);
    }
  });

  it('never accepts what the agent rejects (server-valid BlockEvents are bannable)', () => {
    // Mutations of valid addresses: whatever the pattern lets through must parse on the agent.
    const alphabet = '0123456789abcdef:./%x ';
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let checked = 0;
    for (const base of good) {
      for (let i = 0; i < 300; i++) {
        const chars = [...base];
        const pos = rnd(chars.length + 1);
        const op = rnd(3);
        if (op === 0) chars.splice(pos, 1);
        else if (op === 1) chars.splice(pos, 0, alphabet[rnd(alphabet.length)] ?? '');
        else chars.splice(pos, 1, alphabet[rnd(alphabet.length)] ?? '');
        const s = chars.join('');
        if (IP_OR_CIDR_RE.test(s)) {
          checked++;
          assert.ok(agentAccepts(s), `pattern accepts ${JSON.stringify(s)}, the agent does not`);
        }
      }
    }
    assert.ok(checked > 100);
  });
});

describe('CRON_PATTERN', () => {
  for (const s of ['*/5 * * * *', '0 3 * * MON-FRI', '0 0 1 JAN,JUL *', '*/10 * * * * *', '15,45 8-18 * * 1-5'])
    it(`accepts ${s}`, () => assert.ok(CRON_RE.test(s)));
  for (const s of ['* * *', '* * * * * * *', '', '*/5 * * * *; rm -rf /', '* * * * $(x)', '@hourly x', '\t* * * * *'])
    it(`rejects ${JSON.stringify(s)}`, () => assert.ok(!CRON_RE.test(s)));
});

describe('AGENT_URL_PATTERN', () => {
  for (const s of ['http://host.docker.internal:12345', 'https://10.0.0.5:12345/', 'http://[fd00::5]:12345', 'http://agent'])
    it(`accepts ${s}`, () => assert.ok(AGENT_URL_RE.test(s)));
  for (const s of ['ftp://x', 'http://', 'http:// x', 'file:///etc/passwd', 'host:12345', 'http://a b', 'javascript:alert(1)', 'http://[fd00::5]:12345/api', 'http://a:1/?x', 'http://user@a:1'])
    it(`rejects ${JSON.stringify(s)}`, () => assert.ok(!AGENT_URL_RE.test(s)));
});

describe('CONDITION_REASON_PATTERN', () => {
  for (const s of ['AgentsReachable', 'A', 'Poll_Failed', 'Reason:Sub,X1']) it(`accepts ${s}`, () => assert.ok(CONDITION_REASON_RE.test(s)));
  for (const s of ['', '1Reason', 'has space', 'Trailing:', 'dash-ed']) it(`rejects ${JSON.stringify(s)}`, () => assert.ok(!CONDITION_REASON_RE.test(s)));
});

describe('FloodgateNode schema', () => {
  it('is cluster-scoped, one per node, with a status the agent writes and counts instead of ban lists', () => {
    assert.equal(fgn.spec.scope, 'Cluster');
    const status = schemaAt(fgnSchema, 'status');
    for (const field of ['blockEvents', 'signatureRules', 'failures', 'ownBans', 'lastSync', 'heartbeatTime', 'lastStale', 'conditions']) {
      assert.ok(status.properties?.[field], `status.${field}`);
    }
    assert.ok(schemaAt(fgnSchema, 'status.blockEvents').properties?.revision, 'a revision per kind');
    // Bounded lists: a report never grows with the bans a node holds.
    assert.equal(schemaAt(fgnSchema, 'status.failures').maxItems, 100);
    assert.equal(schemaAt(fgnSchema, 'status.ownBans').maxItems, 500);
  });

  it('has the printer columns', () => {
    const cols = (version(fgn).additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath, c.priority ?? 0]);
    assert.deepEqual(cols.map((c) => c[0]), ['Bans', 'Failed', 'Own', 'Backend', 'Synced', 'Last Sync', 'Age', 'Signatures', 'Version', 'Heartbeat']);
  });
});
