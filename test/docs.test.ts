/**
 * The repository's Markdown, as a newcomer follows it: every relative link leads to a file that is
 * in the repository, and no page cites SPEC.md, which lives outside it (../shared/SPEC.md is the
 * team's contract; the README states what users are promised).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const pages = execFileSync('git', ['ls-files', '*.md'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((p) => p !== '');

describe('documentation', () => {
  it('has pages to check', () => {
    expect(pages).toContain('README.md');
    expect(pages).toContain('bench/README.md');
  });

  it.each(pages)('%s cites no SPEC.md (not in the repository)', (page) => {
    expect(readFileSync(join(root, page), 'utf8')).not.toMatch(/SPEC\.md/);
  });

  it.each(pages)('%s links only to files in the repository', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    const targets = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1] ?? '')
      .filter((t) => !/^[a-z]+:/i.test(t));
    const missing = targets.filter((target) => !existsSync(join(dirname(join(root, page)), target)));
    expect(missing, `links in ${page} to nothing`).toEqual([]);
  });
});
