// A kind of the floodgate.dev/v1alpha1 API: its names, scope and printer
// columns next to its zod schemas. deploy/crds.ts turns a KindDefinition into
// the CRD manifest; resolveObject() turns a stored object into the typed,
// defaulted object the controller works with.

import { z } from 'zod';
import { CATEGORY, GROUP, VERSION, type KubeObject, type ResourceDescriptor } from './types.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  /** Checked against the schema when the CRD is generated. */
  jsonPath: string;
  description?: string;
  format?: string;
  /** 1: only with `kubectl get -o wide` (kubebuilder's convention for details). */
  priority?: 1;
}

export interface KindOptions<Spec extends z.ZodType, Status extends z.ZodType> {
  kind: string;
  plural: string;
  shortNames: readonly string[];
  scope: 'Namespaced' | 'Cluster';
  /** The CRD's top-level description (kubectl explain <kind>). */
  description: string;
  /** spec: desired state, written by users (or by the controller for objects it creates). */
  spec: Spec;
  /** status: observed state, written through the status subresource only. */
  status: Status;
  /** Default columns first; Age (added here) ends them; priority-1 columns after it. */
  printerColumns: readonly PrinterColumn[];
  /** Default: [CATEGORY]. */
  categories?: readonly string[];
}

export interface KindDefinition<Spec extends z.ZodType = z.ZodType, Status extends z.ZodType = z.ZodType>
  extends ResourceDescriptor {
  readonly group: string;
  readonly version: string;
  readonly categories: readonly string[];
  readonly description: string;
  readonly spec: Spec;
  readonly status: Status;
  readonly printerColumns: readonly PrinterColumn[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export function defineKind<Spec extends z.ZodType, Status extends z.ZodType>(
  o: KindOptions<Spec, Status>,
): KindDefinition<Spec, Status> {
  const main = o.printerColumns.filter((c) => !c.priority);
  const wide = o.printerColumns.filter((c) => c.priority);
  return Object.freeze({
    group: GROUP,
    version: VERSION,
    kind: o.kind,
    listKind: `${o.kind}List`,
    plural: o.plural,
    singular: o.kind.toLowerCase(),
    shortNames: Object.freeze([...o.shortNames]),
    categories: Object.freeze([...(o.categories ?? [CATEGORY])]),
    scope: o.scope,
    crdName: `${o.plural}.${GROUP}`,
    description: o.description,
    spec: o.spec,
    status: o.status,
    printerColumns: Object.freeze([...main, AGE, ...wide]),
  });
}

/** The object the controller works with: spec resolved (defaults filled in). */
export type ObjectOf<K extends KindDefinition> = KubeObject<K['kind'], z.output<K['spec']>, z.output<K['status']>>;

/** The object as written (defaulted fields optional): what a client sends. */
export type InputOf<K extends KindDefinition> = KubeObject<K['kind'], z.input<K['spec']>, z.input<K['status']>>;

export interface Resolution<T> {
  object: T;
  /** Empty when the spec is valid; otherwise one line per rejected field ("spec.x.y: message"). */
  problems: string[];
}

const REMOVED = Symbol('removed');
type Path = readonly PropertyKey[];

/** Delete the value at `path` (array elements are marked and compacted afterwards). */
function removeAt(root: unknown, path: Path, arrays: Set<unknown[]>): void {
  let node: unknown = root;
  for (const step of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<PropertyKey, unknown>)[step];
  }
  const last = path[path.length - 1];
  if (Array.isArray(node) && typeof last === 'number') {
    node[last] = REMOVED;
    arrays.add(node);
  } else if (typeof node === 'object' && node !== null && last !== undefined) {
    delete (node as Record<PropertyKey, unknown>)[last];
  }
}

function issueLine(issue: z.core.$ZodIssue): string {
  return `${['spec', ...issue.path.map(String)].join('.')}: ${issue.message}`;
}

/**
 * Parse a spec with its schema: defaults filled in, unknown fields dropped,
 * every value checked. The API server validated and defaulted the object with
 * the CRD generated from the same schema, so for an object written under the
 * current CRD this only types it. An object the schema rejects (written under
 * an older CRD, before a bound was tightened) still resolves: each rejected
 * field is dropped (so it takes its default), then its parent if it was
 * required, and the problems are listed so the caller does not act on it.
 * Only a spec whose own required fields are invalid stays unresolved (the
 * problems say so): `spec` is then the input as given.
 */
export function resolveSpec<S extends z.ZodType>(schema: S, spec: unknown): { spec: z.output<S>; problems: string[] } {
  const first = schema.safeParse(spec ?? {});
  if (first.success) return { spec: first.data, problems: [] };
  const problems = first.error.issues.map(issueLine);
  const value: unknown = structuredClone(spec ?? {});
  const removed = new Set<string>();
  let issues = first.error.issues;
  for (let round = 0; round < 32; round++) {
    const arrays = new Set<unknown[]>();
    for (const issue of issues) {
      let path: Path = issue.path;
      // Dropping it did not help (it is required): drop its parent instead.
      while (path.length > 0 && removed.has(JSON.stringify(path))) path = path.slice(0, -1);
      if (path.length === 0) return { spec: spec as z.output<S>, problems: [...problems, 'spec: cannot be resolved'] };
      removeAt(value, path, arrays);
      removed.add(JSON.stringify(path));
    }
    for (const a of arrays) a.splice(0, a.length, ...a.filter((x) => x !== REMOVED));
    const next = schema.safeParse(value);
    if (next.success) return { spec: next.data, problems };
    issues = next.error.issues;
  }
  return { spec: spec as z.output<S>, problems: [...problems, 'spec: cannot be resolved'] };
}

/**
 * The object with its spec resolved (see resolveSpec). Metadata and status
 * pass through as stored: the status is written only by the controller.
 */
export function resolveObject<K extends KindDefinition>(kind: K, obj: object): Resolution<ObjectOf<K>> {
  const { spec, problems } = resolveSpec(kind.spec, (obj as { spec?: unknown }).spec);
  return { object: { ...(obj as ObjectOf<K>), spec: spec as ObjectOf<K>['spec'] }, problems };
}

/** The resolved object of one that must be valid (built in code or in a test); throws on any problem. */
export function resolved<K extends KindDefinition>(kind: K, obj: InputOf<K>): ObjectOf<K> {
  const { object, problems } = resolveObject(kind, obj);
  if (problems.length > 0) throw new TypeError(`invalid ${kind.kind}: ${problems.join('; ')}`);
  return object;
}
