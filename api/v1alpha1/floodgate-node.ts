// FloodgateNode: one node's report of what its agent enforces. Cluster-scoped,
// named after the node (or, for a host agent outside the cluster, the name its
// operator gave it). An agent that watches the API server (docs/fanout.md)
// writes the status of its own FloodgateNode and of no other: the controller
// creates the object with the node's own ServiceAccount and a ClusterRole that
// names only this object (docs/node-identity.md), and reads the reports to
// say how many nodes hold each BlockEvent ("applied on 998/1000 nodes") and to
// record the agents' own bans as BlockEvents.
//
// The report is O(1) in the number of bans: instead of listing every ban it
// applied, the agent reports, per kind, the resourceVersion of the collection
// up to which it has applied everything it saw (a watermark), plus its
// failures by name. The controller compares that with the resourceVersion at
// which each object's holding last changed (status.nodes.revision).

import { z } from 'zod';
import { defineKind, type InputOf, type ObjectOf } from './kind.js';
import {
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_PATTERN,
  IP_OR_CIDR_PATTERN,
  conditionsSchema,
  dateTime,
  int32,
  int64,
  matching,
  observedGenerationSchema,
  type KubeList,
} from './types.js';

/** Condition types of a FloodgateNode (written by its agent). */
export const FloodgateNodeConditions = Object.freeze({
  /**
   * The agent's view of the API server is current: its informers are synced
   * and it has applied what they hold. False with reason Stale once it is back
   * after a time it could not reach the API server (status.lastStale says when).
   */
  Synced: 'Synced',
} as const);

/** The ServiceAccount names of node identities: floodgate-node-<node> (a hash for long names). */
export const NODE_IDENTITY_PREFIX = 'floodgate-node-';

/** Most failures and own bans one report lists; the counts say how many there were. */
export const MAX_REPORTED_FAILURES = 100;
export const MAX_REPORTED_OWN_BANS = 500;
export const MAX_REPORTED_RELEASES = 100;

const objectRef = z
  .object({
    kind: z.enum(['BlockEvent', 'SignatureRule']).describe('Kind of the enforcement object.'),
    namespace: matching(DNS_LABEL_PATTERN).max(63).describe('Its namespace.'),
    name: matching(DNS_SUBDOMAIN_PATTERN).max(253).describe('Its name.'),
  })
  .describe('An enforcement object.');

/** A namespaced object the node's identity owns. */
const namespacedRef = (kind: string) =>
  z.object({
    namespace: matching(DNS_LABEL_PATTERN).max(63).describe(`Namespace of the ${kind}.`),
    name: matching(DNS_SUBDOMAIN_PATTERN).max(253).describe(`Name of the ${kind}.`),
  });

export const floodgateNodeSpecSchema = z
  .object({
    serviceAccount: namespacedRef('ServiceAccount')
      .optional()
      .describe(
        "The node's own ServiceAccount: the only identity whose ClusterRole lets it write this object's status. " +
          'Set by whoever created the object (the controller, or floodgate node-identity).',
      ),
    lease: namespacedRef('Lease')
      .optional()
      .describe(
        "The node's Lease (coordination.k8s.io/v1): the agent renews it every heartbeat and writes in it how far it has applied " +
          'each kind, so that this object changes only when something else does (docs/fanout.md). Set with serviceAccount.',
      ),
  })
  .prefault({})
  .describe('Who reports for this node. The status is written by that agent only.');

const counts = z
  .object({
    applied: int32().min(0).describe('Held in the firewall now.'),
    failed: int32().min(0).describe('Refused by the agent (never-block rules, caps); listed in failures.'),
    revision: int64()
      .min(0)
      .optional()
      .describe(
        "The kind's collection resourceVersion up to which the agent has applied every change it saw (etcd revisions are " +
          'integers and increase across the cluster): an object whose status.nodes.revision is at most this is held here, ' +
          'unless failures name it.',
      ),
  })
  .describe(
    'Enforcement objects of one kind on this node, as of this report\'s last write; an agent that renews spec.lease keeps ' +
      'the current figures in that Lease\'s annotations (floodgate.dev/blockevents-applied, ...).',
  );

/** The longest a report may say it goes unwritten (status.heartbeatSeconds): 5 hours. */
export const MAX_REPORT_SECONDS = 18_000;

export const floodgateNodeStatusSchema = z
  .object({
    agent: z
      .object({
        version: z.string().max(64).describe('Version of the floodgate agent.'),
        backend: z.string().max(64).describe('Firewall backend (nft, iptables, pf, dry-run).'),
        mode: z.enum(['in-cluster', 'kubeconfig']).describe('How the agent reaches the API server: its pod (in-cluster) or a kubeconfig (a host agent).'),
        pod: z.string().max(253).optional().describe('namespace/name of the agent pod (in-cluster).'),
        url: z.string().max(2048).optional().describe("The agent's API URL as DefensePolicies name it in spec.agents (a host agent)."),
      })
      .optional()
      .describe('The agent that writes this report.'),
    policies: z
      .array(z.string().max(317))
      .max(4096)
      .optional()
      .describe('The DefensePolicies (namespace/name) that select this agent: it enforces their BlockEvents.'),
    blockEvents: counts.optional(),
    signatureRules: counts.optional(),
    failures: z
      .array(objectRef.extend({ message: z.string().max(1024).describe('Why the agent refused it.') }).describe('A refused object.'))
      .max(MAX_REPORTED_FAILURES)
      .optional()
      .describe(`Objects the agent refused, with why (at most ${MAX_REPORTED_FAILURES}).`),
    released: z
      .array(
        objectRef
          .extend({
            at: dateTime().describe('When the ban disappeared from the agent.'),
            window: dateTime().describe('Start of the ban window it belonged to (the object\'s floodgate.dev/ban-start or creation).'),
          })
          .describe('A ban removed on the agent before its expiry.'),
      )
      .max(MAX_REPORTED_RELEASES)
      .optional()
      .describe("Bans an operator removed on this agent (floodgate blocks rm) before their expiry: the controller releases their objects everywhere."),
    ownBans: z
      .array(
        z
          .object({
            cidr: matching(IP_OR_CIDR_PATTERN).max(64).describe('The banned address or network.'),
            source: z.enum(['auto', 'api', 'controller']).describe('auto: its own verdict (auto-defense); api: its REST API.'),
            reason: z.string().max(500).describe('Why the agent banned it.'),
            createdAt: dateTime().describe('When the ban started.'),
            expiresAt: dateTime().describe('When the ban ends.'),
            offenceCount: int32().min(1).describe('Bans of this address within the escalation window.'),
          })
          .describe('A ban the agent made on its own.'),
      )
      .max(MAX_REPORTED_OWN_BANS)
      .optional()
      .describe(`Bans the agent made on its own (auto-defense, its API): the controller records them as BlockEvents (at most ${MAX_REPORTED_OWN_BANS}).`),
    ownBansTotal: int32().min(0).optional().describe('How many own bans the agent holds (ownBans lists the newest).'),
    lastSync: dateTime()
      .optional()
      .describe('When the agent last listed everything and applied it (start, reconnect, periodic relist; a periodic relist\'s is written with the next report).'),
    heartbeatTime: dateTime().optional().describe('When the agent last wrote this report.'),
    heartbeatSeconds: int32()
      .min(1)
      .max(MAX_REPORT_SECONDS)
      .optional()
      .describe(
        'How often the agent writes it at least: older than 3 of these, and without a renewed spec.lease, it is not reporting. ' +
          'An agent that renews its Lease writes this report every 30 heartbeats (at most 5 hours apart), or when something in it changes.',
      ),
    lastStale: z
      .object({
        from: dateTime().describe('The first failed call.'),
        until: dateTime().describe('The first successful call after it.'),
        bans: int32().min(0).describe('Bans it kept enforcing meanwhile.'),
      })
      .optional()
      .describe('The last time the agent could not reach the API server: it kept enforcing what it had.'),
    observedGeneration: observedGenerationSchema(),
    conditions: conditionsSchema(Object.values(FloodgateNodeConditions)),
  })
  .describe("Observed state, written by the node's agent through the status subresource.");

export const FLOODGATE_NODE = defineKind({
  kind: 'FloodgateNode',
  plural: 'floodgatenodes',
  shortNames: ['fgn'],
  scope: 'Cluster',
  description:
    "FloodgateNode is one node's report of what its floodgate agent enforces (bans, signature rules), its own " +
    'bans and its last sync. Written only by that node\'s agent.',
  spec: floodgateNodeSpecSchema,
  status: floodgateNodeStatusSchema,
  printerColumns: [
    { name: 'Bans', type: 'integer', description: 'BlockEvents held in the firewall at the last report (with a node Lease, at most 30 heartbeats old: the Lease has the count now).', jsonPath: '.status.blockEvents.applied' },
    { name: 'Failed', type: 'integer', description: 'BlockEvents the agent refused.', jsonPath: '.status.blockEvents.failed' },
    { name: 'Own', type: 'integer', description: 'Bans the agent made on its own.', jsonPath: '.status.ownBansTotal' },
    { name: 'Backend', type: 'string', description: 'Firewall backend.', jsonPath: '.status.agent.backend' },
    { name: 'Synced', type: 'string', description: 'Synced condition.', jsonPath: '.status.conditions[?(@.type=="Synced")].status' },
    { name: 'Last Sync', type: 'string', format: 'date-time', description: 'Last full sync (RFC 3339).', jsonPath: '.status.lastSync' },
    { name: 'Signatures', type: 'integer', priority: 1, description: 'SignatureRules held.', jsonPath: '.status.signatureRules.applied' },
    { name: 'Version', type: 'string', priority: 1, description: 'Agent version.', jsonPath: '.status.agent.version' },
    { name: 'Heartbeat', type: 'string', format: 'date-time', priority: 1, description: 'Last report (RFC 3339).', jsonPath: '.status.heartbeatTime' },
  ],
});

export type FloodgateNodeSpec = z.output<typeof floodgateNodeSpecSchema>;
export type FloodgateNodeStatus = z.output<typeof floodgateNodeStatusSchema>;
export type FloodgateNode = ObjectOf<typeof FLOODGATE_NODE>;
export type FloodgateNodeInput = InputOf<typeof FLOODGATE_NODE>;
export type FloodgateNodeList = KubeList<'FloodgateNode', FloodgateNode>;
export type ReportedOwnBan = NonNullable<FloodgateNodeStatus['ownBans']>[number];
export type ReportedFailure = NonNullable<FloodgateNodeStatus['failures']>[number];
export type ReportedRelease = NonNullable<FloodgateNodeStatus['released']>[number];
