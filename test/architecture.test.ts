/**
 * The shape of the tree, kept as the README describes it: subsystems in folders, no import
 * circles, small files and functions, and an architecture map that names every source file and
 * folder (and nothing that is gone).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const sources = execFileSync('git', ['ls-files', 'src/**.ts', 'runtimes/**.ts'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((p) => p !== '' && existsSync(join(root, p)));
const parsed = new Map(
  sources.map((file) => [
    file,
    ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true),
  ]),
);

/** The repository-relative files a source file imports (type-only imports included: a circle of types is still a circle). */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const statement of (parsed.get(file) as ts.SourceFile).statements) {
    if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement))) continue;
    const specifier = statement.moduleSpecifier;
    if (specifier === undefined || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    out.push(relative(root, resolve(root, dirname(file), specifier.text)));
  }
  return out;
}

function findCircle(): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file];
    state.set(file, 'open');
    path.push(file);
    for (const next of importsOf(file)) {
      if (!parsed.has(next)) continue;
      const circle = visit(next);
      if (circle) return circle;
    }
    path.pop();
    state.set(file, 'done');
    return undefined;
  };
  for (const file of sources) {
    const circle = visit(file);
    if (circle) return circle;
  }
  return undefined;
}

/** Functions longer than `limit` lines, as `file:line name (lines)`. */
function longFunctions(limit: number): string[] {
  const found: string[] = [];
  for (const [file, source] of parsed) {
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
        const lines = source.getLineAndCharacterOfPosition(node.end).line - start + 1;
        if (lines > limit) found.push(`${file}:${start + 1} (${lines} lines)`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe('the source tree', () => {
  it('has no import circle in src/ or runtimes/', () => {
    expect(findCircle()).toBeUndefined();
  });

  it('has no file over 250 lines in src/ or runtimes/ (split by responsibility past it)', () => {
    const long = sources
      .map((file) => [file, readFileSync(join(root, file), 'utf8').split('\n').length - 1] as const)
      .filter(([, lines]) => lines > 250);
    expect(long).toEqual([]);
  });

  it('has no function over 80 lines in src/ or runtimes/ (a list of named steps reads better)', () => {
    expect(longFunctions(80)).toEqual([]);
  });

  it('keeps src/ runtime-agnostic: the core imports nothing from runtimes/', () => {
    const reaching = sources
      .filter((file) => file.startsWith('src/'))
      .flatMap((file) =>
        importsOf(file)
          .filter((target) => target.startsWith('runtimes/'))
          .map((t) => `${file} -> ${t}`),
      );
    expect(reaching).toEqual([]);
  });
});

describe("the README's architecture map", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const map = readme.slice(readme.indexOf('## Architecture'));
  const folders = [...new Set(sources.map((file) => dirname(file)))];

  it.each(sources)('names %s', (file) => {
    expect(map).toContain(file);
  });

  it.each(folders)('names the folder %s/', (folder) => {
    expect(map).toContain(`${folder}/`);
  });

  it('names no source file that does not exist', () => {
    const named = [...map.matchAll(/\b((?:src|runtimes)\/[\w/.-]+\.ts)\b/g)].map((m) => m[1] as string);
    expect(named.filter((file) => !existsSync(join(root, file)))).toEqual([]);
  });
});
