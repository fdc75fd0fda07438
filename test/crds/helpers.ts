// Shared by the CRD tests: our own control plane, kubectl, a small typed
// client for the two kinds (@kubernetes/client-node 1.4), and a parser for
// kubectl's table output.

import { existsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import { execa } from 'execa';
import YAML from 'yaml';
import {
  GROUP,
  VERSION,
  type BlockEventStatus,
  type DefensePolicyStatus,
  type ResourceDescriptor,
} from '../../api/v1alpha1/index.js';

/** Our own state dir, so we never touch another engineer's API server. */
export const STATE_DIR = process.env.FLOODGATE_CRDS_STATE_DIR ?? '/tmp/floodgate-cp-crds';
export const KUBECTL = existsSync('/usr/local/bin/kubectl') ? '/usr/local/bin/kubectl' : 'kubectl';

export interface Kubectl {
  (args: string[], opts?: { input?: string; reject?: boolean }): Promise<{ stdout: string; stderr: string; exitCode: number }>;
}

export function makeKubectl(kubeconfig: string): Kubectl {
  return async (args, opts = {}) => {
    const r = await execa(KUBECTL, ['--kubeconfig', kubeconfig, ...args], {
      input: opts.input,
      reject: false,
      timeout: 60_000,
      env: { KUBECONFIG: kubeconfig },
    });
    // kubectl 1.32 warns about the skew to a 1.20 server on every call.
    const stderr = String(r.stderr)
      .split('\n')
      .filter((l) => !/^Warning: version difference/.test(l))
      .join('\n')
      .trim();
    const out = { stdout: String(r.stdout), stderr, exitCode: r.exitCode ?? -1 };
    if ((opts.reject ?? true) && out.exitCode !== 0) {
      throw new Error(`kubectl ${args.join(' ')} failed (${out.exitCode}):\n${stderr}\n${out.stdout}`);
    }
    return out;
  };
}

/** Anything with apiVersion/kind/metadata; tests build objects loosely on purpose (invalid ones too). */
export type Obj = Record<string, unknown> & {
  metadata?: V1ObjectMeta;
  spec?: Record<string, unknown>;
  /** Either kind's status fields, all optional (invalid ones are cast in on purpose). */
  status?: Partial<BlockEventStatus> & Partial<DefensePolicyStatus>;
};

/** The API server's error, as returned by the client (ApiException) or thrown by us. */
export interface ServerError {
  code: number;
  message: string;
  reason?: string;
}

function toServerError(err: unknown): ServerError {
  if (err instanceof ApiException) {
    const raw: unknown = err.body;
    let body: { message?: string; reason?: string } = {};
    if (typeof raw === 'string') {
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        body = { message: raw };
      }
    } else if (typeof raw === 'object' && raw !== null) {
      body = raw as typeof body;
    }
    return { code: err.code, message: body.message ?? String(raw), reason: body.reason };
  }
  throw err;
}

/** Thin client for one kind in one namespace; server errors come back as values, not throws. */
export class Kind {
  constructor(
    private readonly api: CustomObjectsApi,
    private readonly rd: ResourceDescriptor,
    readonly namespace: string,
  ) {}

  private base() {
    return { group: GROUP, version: VERSION, namespace: this.namespace, plural: this.rd.plural };
  }

  async create(body: Obj): Promise<Obj> {
    return (await this.api.createNamespacedCustomObject({ ...this.base(), body })) as Obj;
  }

  /** create, returning the error instead of throwing. */
  async tryCreate(body: Obj): Promise<{ ok: Obj } | { err: ServerError }> {
    try {
      return { ok: await this.create(body) };
    } catch (err) {
      return { err: toServerError(err) };
    }
  }

  async get(name: string): Promise<Obj> {
    return (await this.api.getNamespacedCustomObject({ ...this.base(), name })) as Obj;
  }

  async replace(body: Obj): Promise<Obj> {
    return (await this.api.replaceNamespacedCustomObject({ ...this.base(), name: String(body.metadata?.name), body })) as Obj;
  }

  async replaceStatus(body: Obj): Promise<{ ok: Obj } | { err: ServerError }> {
    try {
      const ok = (await this.api.replaceNamespacedCustomObjectStatus({
        ...this.base(),
        name: String(body.metadata?.name),
        body,
      })) as Obj;
      return { ok };
    } catch (err) {
      return { err: toServerError(err) };
    }
  }

  async mergePatch(name: string, patch: object): Promise<Obj> {
    return (await this.api.patchNamespacedCustomObject(
      { ...this.base(), name, body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Obj;
  }

  async mergePatchStatus(name: string, patch: object): Promise<Obj> {
    return (await this.api.patchNamespacedCustomObjectStatus(
      { ...this.base(), name, body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Obj;
  }

  async delete(name: string): Promise<void> {
    await this.api.deleteNamespacedCustomObject({ ...this.base(), name });
  }

  /** get, or undefined on 404. */
  async tryGet(name: string): Promise<Obj | undefined> {
    try {
      return await this.get(name);
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }
}

export function customObjectsApi(kubeconfig: string): CustomObjectsApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc.makeApiClient(CustomObjectsApi);
}

/**
 * kubectl's table output as rows of header → cell. Cells are cut at the
 * header's column offsets (tabwriter aligns every column to its header), so
 * empty cells and headers with spaces ("ACTIVE BLOCKS") parse correctly.
 */
export function parseTable(stdout: string): { headers: string[]; rows: Record<string, string>[] } {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0] ?? '';
  const headers = header.trim().split(/ {2,}/);
  const starts: number[] = [];
  let from = 0;
  for (const h of headers) {
    const at = header.indexOf(h, from);
    starts.push(at);
    from = at + h.length;
  }
  const rows = lines.slice(1).map((line) => {
    const row: Record<string, string> = {};
    headers.forEach((h, i) => {
      row[h] = line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim();
    });
    return row;
  });
  return { headers, rows };
}

/** The CRD manifest as parsed YAML. */
export function readCrd(file: string): CrdDoc {
  return YAML.parse(readFileSync(file, 'utf8')) as CrdDoc;
}

export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  required?: string[];
  default?: unknown;
  pattern?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  maxItems?: number;
  maxLength?: number;
  oneOf?: SchemaNode[];
  [k: string]: unknown;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
  description?: string;
  format?: string;
}

export interface CrdDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    preserveUnknownFields?: boolean;
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: PrinterColumn[];
      schema: { openAPIV3Schema: SchemaNode };
    }[];
  };
}

/** The schema node at a dotted path of property names ("spec.detection.windowSeconds"; "[]" steps into items). */
export function schemaAt(root: SchemaNode, dotted: string): SchemaNode {
  let node: SchemaNode | undefined = root;
  for (const part of dotted.split('.')) {
    node = part === '[]' ? node?.items : node?.properties?.[part];
    if (!node) throw new Error(`no schema at ${dotted} (stuck at ${part})`);
  }
  return node;
}
