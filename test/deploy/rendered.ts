/**
 * What the real kustomize renders for each kustomization under deploy/k8s, kept in
 * test/deploy/rendered/ so that kustomize.test.ts can hold test/deploy/kustomize.ts to it on any
 * machine, kubectl or not (Debian has no kubectl package). After changing a manifest, write them
 * again with kubectl (its built-in kustomize) and review the diff:
 *
 *   node test/deploy/rendered.ts
 *
 * Never write these files from kustomize.ts itself: they are the independent answer it is checked against.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readYamlDocuments } from './kustomize.ts';
import { repoRoot } from './project.ts';

export const renderedDir = join(import.meta.dirname, 'rendered');

/** Every directory under deploy/k8s whose kustomization.yaml is a Kustomization (Components cannot be built alone), relative to the repository. */
export function kustomizations(): string[] {
  const root = join(repoRoot, 'deploy/k8s');
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name === 'kustomization.yaml')
    .filter((entry) => {
      const [document] = readYamlDocuments(join(entry.parentPath, entry.name)) as [{ kind?: string }];
      return document.kind === 'Kustomization';
    })
    .map((entry) => relative(repoRoot, entry.parentPath).split('\\').join('/'))
    .sort();
}

/** deploy/k8s/overlays/tls -> test/deploy/rendered/deploy-k8s-overlays-tls.yaml */
export function renderedFile(dir: string): string {
  return join(renderedDir, `${dir.replaceAll('/', '-')}.yaml`);
}

function write(): void {
  const version = execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
  const kustomize = (JSON.parse(version) as { kustomizeVersion?: string }).kustomizeVersion ?? 'unknown';
  for (const dir of kustomizations()) {
    const output = execFileSync('kubectl', ['kustomize', dir], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    const header =
      `# \`kubectl kustomize ${dir}\` (kustomize ${kustomize}), written by \`node test/deploy/rendered.ts\`.\n` +
      '# Do not edit: test/deploy/kustomize.test.ts holds test/deploy/kustomize.ts to it.\n';
    writeFileSync(renderedFile(dir), header + output);
    console.log(`${relative(repoRoot, renderedFile(dir))}: ${output.split('\n---\n').length} objects`);
  }
}

if (import.meta.main) write();
