/**
 * The renderer the deploy tests rely on: the same objects as the real kustomize rendered
 * (test/deploy/rendered/, written by `kubectl kustomize`: no kubectl is needed here), JSON Patch as
 * RFC 6902 defines it, components as kustomize applies them, and a loud refusal of what it does not model.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { PodSpec } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { applyJsonPatch, readYamlDocuments, renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import { repoRoot } from './project.ts';
import { kustomizations, renderedDir, renderedFile } from './rendered.ts';

const byId = (manifests: Manifest[]) =>
  Object.fromEntries(
    manifests.map((manifest) => [`${manifest.apiVersion} ${manifest.kind} ${manifest.metadata.name}`, manifest]),
  );

it('has a rendering by the real kustomize for every kustomization under deploy/k8s, and none left over', () => {
  const dirs = kustomizations();
  expect(dirs).toEqual(
    expect.arrayContaining(['deploy/k8s', 'deploy/k8s/monitoring', 'deploy/k8s/overlays/monitoring']),
  );
  // If this fails: `node test/deploy/rendered.ts` (needs kubectl), then review the diff.
  expect(readdirSync(renderedDir).sort()).toEqual(dirs.map((dir) => basename(renderedFile(dir))).sort());
});

describe.each(kustomizations())('%s', (dir) => {
  it('renders exactly what `kubectl kustomize` rendered (test/deploy/rendered/)', () => {
    const file = renderedFile(dir);
    expect(existsSync(file), `${file}: run node test/deploy/rendered.ts`).toBe(true);
    const expected = readYamlDocuments(file) as Manifest[];
    expect(expected.length).toBeGreaterThan(0);
    // If this fails after a change to deploy/k8s: `node test/deploy/rendered.ts` (needs kubectl),
    // and read the diff of test/deploy/rendered/ as the change the cluster will see.
    expect(byId(renderKustomization(join(repoRoot, dir)))).toEqual(byId(expected));
  });
});

describe('components', () => {
  const write = (dir: string, files: Record<string, string>) => {
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  };
  const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: "1"\n`;

  it("apply after the kustomization's resources and before its own patches, and add their resources", () => {
    const root = mkdtempSync(join(tmpdir(), 'kustomize-'));
    try {
      write(join(root, 'component'), {
        'kustomization.yaml': [
          'apiVersion: kustomize.config.k8s.io/v1alpha1',
          'kind: Component',
          'resources: [extra.yaml]',
          'patches:',
          '  - target: { kind: ConfigMap, name: main }',
          '    patch: |-',
          '      - { op: test, path: /data/a, value: "1" }',
          '      - { op: replace, path: /data/a, value: "2" }',
        ].join('\n'),
        'extra.yaml': configMap('extra'),
      });
      write(join(root, 'app'), {
        'kustomization.yaml': [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources: [main.yaml]',
          'components: [../component]',
          'patches:',
          '  - target: { kind: ConfigMap, name: main }',
          '    patch: |-',
          '      - { op: test, path: /data/a, value: "2" }',
          '      - { op: add, path: /data/b, value: "3" }',
        ].join('\n'),
        'main.yaml': configMap('main'),
      });
      const rendered = byId(renderKustomization(join(root, 'app')));
      expect(Object.keys(rendered).sort()).toEqual(['v1 ConfigMap extra', 'v1 ConfigMap main']);
      expect(rendered['v1 ConfigMap main']?.data).toEqual({ a: '2', b: '3' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a Component listed as a resource, and a Kustomization listed as a component', () => {
    const root = mkdtempSync(join(tmpdir(), 'kustomize-'));
    try {
      write(join(root, 'component'), {
        'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n',
      });
      write(join(root, 'plain'), {
        'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n',
      });
      write(join(root, 'a'), {
        'kustomization.yaml':
          'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../component]\n',
      });
      write(join(root, 'b'), {
        'kustomization.yaml':
          'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents: [../plain]\n',
      });
      expect(() => renderKustomization(join(root, 'a'))).toThrow(/must be apiVersion .*, kind Kustomization/);
      expect(() => renderKustomization(join(root, 'b'))).toThrow(/must be apiVersion .*v1alpha1, kind Component/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

it('sets images as kustomize does: by name in containers and initContainers, tag or digest kept or replaced, nothing else touched', () => {
  const root = mkdtempSync(join(tmpdir(), 'kustomize-'));
  try {
    const container = (name: string, image: string) => ({ name, image });
    writeFileSync(
      join(root, 'resources.yaml'),
      [
        JSON.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'd' },
          spec: {
            template: {
              spec: {
                initContainers: [container('i', 'sidecar:0.1.0')],
                containers: [
                  container('a', 'sidecar'),
                  container('b', 'sidecar-x:0.1.0'),
                  container('c', 'example.com/sidecar:1'),
                  container('e', 'sidecar@sha256:aaaa'),
                ],
              },
            },
          },
        }),
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'cm' },
          data: { image: 'sidecar:0.1.0' },
        }),
      ].join('\n---\n'),
    );
    writeFileSync(
      join(root, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources: [resources.yaml]',
        'images:',
        '  - { name: sidecar, newName: sidecar-bun }',
        '  - { name: sidecar-x, newTag: "2" }',
        '  - { name: example.com/sidecar, digest: "sha256:bbbb" }',
      ].join('\n'),
    );
    // What `kubectl kustomize` (kustomize v5.5.0) rendered for this directory.
    const rendered = byId(renderKustomization(root));
    const spec = (rendered['apps/v1 Deployment d']?.spec as { template: { spec: PodSpec } }).template.spec;
    expect(spec.initContainers).toEqual([container('i', 'sidecar-bun:0.1.0')]);
    expect(spec.containers).toEqual([
      container('a', 'sidecar-bun'),
      container('b', 'sidecar-x:2'),
      container('c', 'example.com/sidecar@sha256:bbbb'),
      container('e', 'sidecar-bun@sha256:aaaa'),
    ]);
    expect(rendered['v1 ConfigMap cm']?.data).toEqual({ image: 'sidecar:0.1.0' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

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
