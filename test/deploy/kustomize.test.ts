/**
 * The renderer the deploy tests rely on: the same objects as `kubectl kustomize` (where kubectl
 * is installed), JSON Patch as RFC 6902 defines it, and a loud refusal of what it does not model.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { applyJsonPatch, renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import { repoRoot } from './project.ts';

function kubectl(): string | undefined {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
    return 'kubectl';
  } catch {
    return undefined;
  }
}

const byId = (manifests: Manifest[]) =>
  Object.fromEntries(
    manifests.map((manifest) => [`${manifest.apiVersion} ${manifest.kind} ${manifest.metadata.name}`, manifest]),
  );

describe.each(['deploy/k8s', 'deploy/k8s/overlays/native-sidecar', 'deploy/k8s/overlays/tls', 'deploy/k8s/monitoring'])(
  '%s',
  (dir) => {
    it.skipIf(!kubectl())('renders exactly what `kubectl kustomize` renders', () => {
      const output = execFileSync('kubectl', ['kustomize', join(repoRoot, dir)], { encoding: 'utf8', timeout: 30_000 });
      const expected = parseAllDocuments(output).map((document) => document.toJS() as Manifest);
      expect(byId(renderKustomization(join(repoRoot, dir)))).toEqual(byId(expected));
    });
  },
);

describe('applyJsonPatch (RFC 6902)', () => {
  it('adds, removes, replaces, moves, copies and tests, with "-" and escaped pointers', () => {
    const patched = applyJsonPatch({ list: ['a', 'c'], 'x/y': { '~k': 1 }, keep: true }, [
      { op: 'add', path: '/list/1', value: 'b' },
      { op: 'add', path: '/list/-', value: 'd' },
      { op: 'test', path: '/x~1y/~0k', value: 1 },
      { op: 'replace', path: '/x~1y/~0k', value: 2 },
      { op: 'copy', from: '/list/0', path: '/first' },
      { op: 'move', from: '/list/3', path: '/last' },
      { op: 'remove', path: '/keep' },
    ]);
    expect(patched).toEqual({ list: ['a', 'b', 'c'], 'x/y': { '~k': 2 }, first: 'a', last: 'd' });
  });

  it('fails on a failed test, a missing path, an index out of range, and leaves the input alone', () => {
    const input = { list: [{ name: 'legacy' }] };
    expect(() => applyJsonPatch(input, [{ op: 'test', path: '/list/0/name', value: 'sidecar' }])).toThrow(
      /test failed/,
    );
    expect(() => applyJsonPatch(input, [{ op: 'replace', path: '/nothing', value: 1 }])).toThrow(/no member "nothing"/);
    expect(() => applyJsonPatch(input, [{ op: 'move', from: '/list/1', path: '/x' }])).toThrow(/out of range/);
    expect(() =>
      applyJsonPatch(input, [
        { op: 'add', path: '/list/0/name', value: 'x' },
        { op: 'test', path: '/list/0/name', value: 'y' },
      ]),
    ).toThrow();
    expect(input).toEqual({ list: [{ name: 'legacy' }] });
  });
});

it('refuses a kustomization field it does not model, instead of ignoring it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-'));
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\nnamespace: prod\n',
    );
    expect(() => renderKustomization(dir)).toThrow(/"namespace" is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
