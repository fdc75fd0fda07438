/**
 * crds/*.yaml are generated from api/v1alpha1 (deploy/crds.ts): the files on
 * disk must be exactly the generator's output (run `npm run crds:generate`
 * after changing a kind), and the generator refuses what a CRD cannot say.
 * No API server; test/crds/apiserver.test.ts applies the files to one.
 *
 *   node --test dist/test/crds/crd-drift.test.js
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { z } from 'zod';
import { KINDS, defineKind, defensePolicySpecSchema, blockEventStatusSchema } from '../../api/v1alpha1/index.js';
import { CrdSchemaError, crdFilesOnDisk, crdManifest, generatedCrds, openApiSchema } from '../../deploy/crds.js';
import { crdDir, findRepoRoot } from '../../deploy/crd-files.js';

describe('crds/ is the generated output of api/v1alpha1', () => {
  const generated = generatedCrds();

  it('has one manifest per kind and no other', () => {
    assert.deepEqual(crdFilesOnDisk(), [...generated.keys()].sort());
    assert.equal(generated.size, KINDS.length);
  });

  for (const [file, content] of generated) {
    it(`${path.basename(file)} is up to date (else: npm run crds:generate)`, () => {
      const onDisk = fs.readFileSync(file, 'utf8');
      if (onDisk !== content) {
        const a = onDisk.split('\n');
        const b = content.split('\n');
        const line = a.findIndex((l, i) => l !== b[i]);
        assert.fail(`${file} differs from the generated CRD at line ${line + 1}:\n  on disk:   ${a[line]}\n  generated: ${b[line]}\nrun npm run crds:generate`);
      }
    });
  }

  it("the chart's files/crds is crds/ itself", () => {
    const link = path.join(findRepoRoot(), 'charts', 'floodgate', 'files', 'crds');
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(fs.realpathSync(link), fs.realpathSync(crdDir()));
  });

  it('manifests/10-crds.yaml carries the same CRD specs (rendered from the chart)', () => {
    const rendered = YAML.parseAllDocuments(fs.readFileSync(path.join(findRepoRoot(), 'manifests', '10-crds.yaml'), 'utf8'))
      .map((d) => d.toJS() as { metadata: { name: string }; spec: unknown })
      .filter((d) => d !== null);
    for (const kind of KINDS) {
      const doc = rendered.find((d) => d.metadata.name === kind.crdName);
      assert.ok(doc, `${kind.crdName} missing from manifests/10-crds.yaml (npm run crds:generate re-renders it)`);
      assert.deepEqual(doc.spec, crdManifest(kind).spec, `${kind.crdName} in manifests/ is stale: npm run crds:generate`);
    }
  });
});

describe('the generator', () => {
  const kind = (spec: z.ZodType, printerColumns: Parameters<typeof defineKind>[0]['printerColumns'] = []) =>
    defineKind({ kind: 'Probe', plural: 'probes', shortNames: [], scope: 'Cluster', description: 'A probe kind.', spec, status: blockEventStatusSchema, printerColumns });

  it('handles a cluster-scoped kind (issue 15 adds one)', () => {
    const crd = crdManifest(kind(z.object({ nodeName: z.string().describe('The node.') }).describe('A spec.'))) as {
      metadata: { name: string };
      spec: { scope: string; names: { listKind: string; categories: string[] } };
    };
    assert.equal(crd.metadata.name, 'probes.floodgate.dev');
    assert.equal(crd.spec.scope, 'Cluster');
    assert.equal(crd.spec.names.listKind, 'ProbeList');
    assert.deepEqual(crd.spec.names.categories, ['floodgate']);
  });

  it('refuses a field without a description, naming it', () => {
    assert.throws(() => openApiSchema(z.object({ a: z.object({ b: z.number() }).describe('A.') }).describe('S.'), 'spec'), (err: Error) => err instanceof CrdSchemaError && /spec\.a\.b: no description/.test(err.message));
  });

  it('refuses what a structural schema cannot say: unions, untyped values, non-JSON types', () => {
    assert.throws(() => openApiSchema(z.object({ a: z.union([z.string(), z.number()]).describe('A.') }).describe('S.'), 'spec'), /spec\.a: "anyOf" cannot be written/);
    assert.throws(() => openApiSchema(z.object({ a: z.date().describe('A.') }).describe('S.'), 'spec'), CrdSchemaError);
    assert.throws(() => openApiSchema(z.object({ a: z.any().describe('A.') }).describe('S.'), 'spec'), /spec\.a: no type/);
  });

  it('refuses a printer column on a field that does not exist, or of the wrong type', () => {
    const spec = z.object({ n: z.number().int().describe('N.') }).describe('A spec.');
    assert.throws(() => crdManifest(kind(spec, [{ name: 'X', type: 'integer', jsonPath: '.spec.missing' }])), /printer column "X": \.spec\.missing is not a field/);
    assert.throws(() => crdManifest(kind(spec, [{ name: 'X', type: 'date', jsonPath: '.spec.n' }])), /printer column "X" \(date\) reads \.spec\.n, a integer/);
    assert.doesNotThrow(() => crdManifest(kind(spec, [{ name: 'X', type: 'number', jsonPath: '.spec.n' }])));
  });

  it('writes patterns as declared (no JS escapes), date-times without zod\'s pattern, int64 without safe-integer bounds', () => {
    const s = openApiSchema(blockEventStatusSchema, 'status') as { properties: Record<string, Record<string, unknown>> };
    assert.deepEqual(s.properties.blockedAt, { description: 'When the current ban started: the floodgate.dev/ban-start annotation, else creation.', type: 'string', format: 'date-time' });
    assert.deepEqual(s.properties.observedGeneration, { description: 'The metadata.generation the controller last acted on.', type: 'integer', format: 'int64', minimum: 0 });
    const url = (openApiSchema(defensePolicySpecSchema, 'spec') as { properties: { agents: { items: { properties: { url: { pattern: string } } } } } }).properties.agents.items.properties.url;
    assert.equal(url.pattern, '^https?://[A-Za-z0-9._~%\\[\\]:-]+/?$');
  });

  it('adding a field to a kind adds it, described and defaulted, to its CRD', () => {
    const extended = defensePolicySpecSchema
      .extend({ newField: z.number().int().min(1).default(5).describe('A new field.') })
      .describe('The spec.');
    const s = openApiSchema(extended, 'spec') as { properties: Record<string, unknown> };
    assert.deepEqual(s.properties.newField, { description: 'A new field. Default 5.', type: 'integer', default: 5, minimum: 1 });
  });
});
