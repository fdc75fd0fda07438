// crds/*.yaml, generated from api/v1alpha1: each kind's zod schemas become
// its CRD's structural OpenAPI v3 schema (z.toJSONSchema, then reduced to what
// a Kubernetes 1.20 API server accepts), next to the names, scope and printer
// columns the kind declares. `npm run crds:generate` writes the files;
// test/crds/crd-drift.test.ts fails when they differ from this output.
// Anything the CRD cannot express (a $ref, a union, a transform, a field
// without a description, a printer column on a missing field) is an error
// here, not a surprise on the API server.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { KINDS, type KindDefinition, type PrinterColumn } from '../api/v1alpha1/index.js';
import { crdDir, crdPath } from './crd-files.js';

export type SchemaNode = { [key: string]: unknown };

export class CrdSchemaError extends Error {
  override name = 'CrdSchemaError';
}

/**
 * The keywords a structural schema may use, in the order they are written
 * (controller-gen's: what a field is, then its shape, then its bounds).
 */
const KEYWORDS = [
  'description',
  'type',
  'format',
  'required',
  'oneOf',
  'properties',
  'additionalProperties',
  'items',
  'enum',
  'default',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
] as const;
const ALLOWED = new Set<string>(KEYWORDS);

function isObject(v: unknown): v is SchemaNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `a.b.[]` for messages. */
function child(at: string, step: string): string {
  return at ? `${at}.${step}` : step;
}

/**
 * One node of zod's OpenAPI 3.0 output, made structural: zod-only details
 * dropped, the rest checked against KEYWORDS, keys in KEYWORDS order, the
 * default (if a scalar) appended to the description.
 */
function structural(node: SchemaNode, at: string, needsDescription: boolean): SchemaNode {
  const n: SchemaNode = { ...node };
  delete n.$schema;
  // z.object() strips unknown keys, z.strictObject() rejects them; in the CRD
  // pruning does the first, and "false" may not stand beside properties.
  if (n.additionalProperties === false) delete n.additionalProperties;
  // zod writes the bounds of a safe integer; an int64 field has none.
  if (n.maximum === Number.MAX_SAFE_INTEGER) delete n.maximum;
  if (n.minimum === Number.MIN_SAFE_INTEGER) delete n.minimum;
  // The API server checks format: date-time itself; zod's pattern for it is long and JS-only.
  if (n.format === 'date-time') delete n.pattern;
  // RegExp.source escapes "/"; the pattern as written has none of those escapes.
  if (typeof n.pattern === 'string') n.pattern = n.pattern.replace(/\\\//g, '/');

  for (const key of Object.keys(n)) {
    if (!ALLOWED.has(key)) {
      throw new CrdSchemaError(`${at || '<root>'}: "${key}" cannot be written in a structural CRD schema (zod: ${JSON.stringify(node).slice(0, 200)})`);
    }
  }
  if (typeof n.type !== 'string') throw new CrdSchemaError(`${at || '<root>'}: no type (not structural): ${JSON.stringify(node).slice(0, 200)}`);
  if (needsDescription && (typeof n.description !== 'string' || n.description.trim() === '')) {
    throw new CrdSchemaError(`${at}: no description (give it .describe() in api/v1alpha1)`);
  }
  if (n.default !== undefined && !isObject(n.default) && !Array.isArray(n.default) && typeof n.description === 'string') {
    n.description = `${n.description} Default ${String(n.default)}.`;
  }
  if (n.oneOf !== undefined) {
    // Only "exactly one of these fields" (no types in the branches), which is structural.
    const ok = Array.isArray(n.oneOf) && n.oneOf.every((b) => isObject(b) && Object.keys(b).join() === 'required');
    if (!ok) throw new CrdSchemaError(`${at || '<root>'}: oneOf may only list required fields`);
  }
  if (isObject(n.properties)) {
    const props: SchemaNode = {};
    for (const [name, sub] of Object.entries(n.properties)) {
      if (!isObject(sub)) throw new CrdSchemaError(`${child(at, name)}: not a schema`);
      props[name] = structural(sub, child(at, name), true);
    }
    n.properties = props;
  }
  if (isObject(n.items)) n.items = structural(n.items, child(at, '[]'), n.items.type === 'object');
  else if (n.items !== undefined) throw new CrdSchemaError(`${at}: items must be one schema (no tuples)`);
  if (isObject(n.additionalProperties)) n.additionalProperties = structural(n.additionalProperties, child(at, '{}'), false);

  const ordered: SchemaNode = {};
  for (const key of KEYWORDS) if (n[key] !== undefined) ordered[key] = n[key];
  return ordered;
}

/** A zod schema as the structural OpenAPI v3 schema of a CRD field. */
export function openApiSchema(schema: z.ZodType, at = ''): SchemaNode {
  let json: SchemaNode;
  try {
    // io "input": the schema of what users write, so defaulted fields are optional and carry their default.
    json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw', cycles: 'throw', reused: 'inline' }) as SchemaNode;
  } catch (err) {
    throw new CrdSchemaError(`${at || '<root>'}: ${(err as Error).message}`);
  }
  if (JSON.stringify(json).includes('"$ref"')) throw new CrdSchemaError(`${at || '<root>'}: contains a $ref`);
  return structural(json, at, at !== '');
}

/** The schema node a printer column's jsonPath reads, checked; filters ([?(...)]) end the check. */
function checkColumn(root: SchemaNode, kind: string, col: PrinterColumn): void {
  const steps = col.jsonPath.replace(/^\./, '').split('.');
  if (steps[0] === 'metadata') return;
  let node: SchemaNode | undefined = root;
  let filtered = false;
  for (const step of steps) {
    const name = step.replace(/\[.*$/, '');
    node = isObject(node?.properties) ? (node.properties[name] as SchemaNode | undefined) : undefined;
    if (!node) throw new CrdSchemaError(`${kind} printer column "${col.name}": ${col.jsonPath} is not a field of the schema`);
    if (name !== step) {
      filtered = true;
      break;
    }
  }
  if (filtered || !node) return;
  const want: Record<PrinterColumn['type'], string[]> = { string: ['string'], integer: ['integer'], number: ['number', 'integer'], boolean: ['boolean'], date: ['string'] };
  if (!want[col.type].includes(String(node.type)) || (col.type === 'date' && node.format !== 'date-time')) {
    throw new CrdSchemaError(`${kind} printer column "${col.name}" (${col.type}) reads ${col.jsonPath}, a ${String(node.type)}${node.format ? ` (${String(node.format)})` : ''}`);
  }
}

/** The CustomResourceDefinition of a kind, as a plain object in controller-gen's layout. */
export function crdManifest(kind: KindDefinition): SchemaNode {
  const root: SchemaNode = {
    description: kind.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert ' +
          'recognized schemas to the latest internal value, and may reject unrecognized values.',
        type: 'string',
      },
      kind: {
        description: 'Kind is a string value representing the REST resource this object represents. In CamelCase.',
        type: 'string',
      },
      metadata: { type: 'object' },
      spec: openApiSchema(kind.spec, 'spec'),
      status: openApiSchema(kind.status, 'status'),
    },
  };
  for (const col of kind.printerColumns) checkColumn(root, kind.kind, col);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: kind.crdName,
      labels: { 'app.kubernetes.io/name': 'floodgate', 'app.kubernetes.io/part-of': 'floodgate', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: kind.group,
      scope: kind.scope,
      names: {
        kind: kind.kind,
        listKind: kind.listKind,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: [...kind.shortNames],
        categories: [...kind.categories],
      },
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: kind.printerColumns.map((c) => ({
            name: c.name,
            type: c.type,
            ...(c.format ? { format: c.format } : {}),
            ...(c.priority ? { priority: c.priority } : {}),
            ...(c.description ? { description: c.description } : {}),
            jsonPath: c.jsonPath,
          })),
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

const HEADER =
  '# Generated from api/v1alpha1 by `npm run crds:generate`; do not edit.\n' +
  '# test/crds/crd-drift.test.ts fails when this file and the generated one differ (docs/crds.md).\n';

/** The file crds/<plural>.<group>.yaml of a kind. */
export function crdYaml(kind: KindDefinition): string {
  const doc = new YAML.Document(crdManifest(kind));
  // Long descriptions as folded blocks (>-), as controller-gen writes them.
  YAML.visit(doc, {
    Pair(_, pair) {
      if (YAML.isScalar(pair.key) && pair.key.value === 'description' && YAML.isScalar(pair.value) && String(pair.value.value).length > 80) {
        pair.value.type = 'BLOCK_FOLDED';
      }
    },
  });
  return HEADER + doc.toString({ lineWidth: 100, minContentWidth: 40 });
}

/** Every generated file (absolute path) with its content. */
export function generatedCrds(root?: string): Map<string, string> {
  return new Map(KINDS.map((k) => [crdPath(k, root), crdYaml(k)]));
}

/** Generated files of crds/ on disk (the README is hand-written). */
export function crdFilesOnDisk(root?: string): string[] {
  const dir = crdDir(root);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(dir, f))
    .sort();
}

/** Write crds/ (and delete manifests of kinds that no longer exist); returns the files written. */
export function writeCrds(root?: string): string[] {
  const files = generatedCrds(root);
  for (const stale of crdFilesOnDisk(root)) if (!files.has(stale)) fs.rmSync(stale);
  for (const [file, content] of files) fs.writeFileSync(file, content);
  return [...files.keys()];
}
