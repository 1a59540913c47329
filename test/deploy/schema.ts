/**
 * Two offline checks of manifests against the Kubernetes API, done with well-kept libraries:
 * - kubernetes-models validates each object against the OpenAPI schemas (types, required
 *   fields, formats), but lets unknown fields through;
 * - kubernetes-types, with the TypeScript compiler, rejects unknown fields: each object becomes
 *   an object literal that must `satisfies` its type, and TypeScript refuses excess properties
 *   at any depth (a `readinesProbe` typo, a `sleep` preStop on a too-old API, a misplaced key).
 */
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import type { Manifest } from './kustomize.ts';

interface Validatable {
  validate(): void;
}

/** The kinds deploy/k8s uses; add a line here when it uses another. */
const models: Record<string, { model: new (data: never) => Validatable; types: string }> = {
  'apps/v1 Deployment': { model: Deployment, types: 'kubernetes-types/apps/v1' },
  'v1 Service': { model: Service, types: 'kubernetes-types/core/v1' },
  'v1 ConfigMap': { model: ConfigMap, types: 'kubernetes-types/core/v1' },
  'autoscaling/v2 HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    types: 'kubernetes-types/autoscaling/v2',
  },
  'policy/v1 PodDisruptionBudget': { model: PodDisruptionBudget, types: 'kubernetes-types/policy/v1' },
};

function modelFor(manifest: Manifest) {
  const entry = models[`${manifest.apiVersion} ${manifest.kind}`];
  if (!entry)
    throw new Error(`no schema known for ${manifest.apiVersion} ${manifest.kind}: add it to test/deploy/schema.ts`);
  return entry;
}

const describe = (manifest: Manifest) => `${manifest.kind} ${manifest.metadata.name}`;

/** Problems the Kubernetes OpenAPI schemas find (wrong types, missing required fields). */
export function schemaProblems(manifests: Manifest[]): string[] {
  const problems: string[] = [];
  for (const manifest of manifests) {
    const { model: Model } = modelFor(manifest);
    try {
      new Model(structuredClone(manifest) as never).validate();
    } catch (error) {
      const details = (error as { errors?: { instancePath: string; message?: string }[] }).errors;
      if (!details) throw error;
      for (const detail of details)
        problems.push(`${describe(manifest)}: ${detail.instancePath || '/'} ${detail.message ?? 'is invalid'}`);
    }
  }
  return problems;
}

/** Problems TypeScript finds when each object must satisfy its kubernetes-types type: unknown fields above all. */
export function unknownFieldProblems(manifests: Manifest[]): string[] {
  // A file that does not exist on disk, placed in this folder so that `kubernetes-types` resolves
  // from the project's node_modules.
  const fileName = join(import.meta.dirname, '__manifests__.ts');
  const lines: string[] = [];
  const owners: { from: number; manifest: Manifest }[] = [];
  for (const [index, manifest] of manifests.entries()) {
    const { types } = modelFor(manifest);
    owners.push({ from: lines.length, manifest });
    lines.push(`import type { ${manifest.kind} as T${index} } from '${types}';`);
    lines.push(...`export const m${index} = ${JSON.stringify(manifest, null, 2)} satisfies T${index};`.split('\n'));
  }
  const source = lines.join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);

  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const owner = owners.findLast((candidate) => candidate.from <= line);
    return owner ? `${describe(owner.manifest)}: ${message}` : message;
  });
}
