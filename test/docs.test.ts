/**
 * The repository as a newcomer reads it: every relative Markdown link leads to a file that is in
 * the repository; docs/behaviour.md, the page of promises, has a section per subsystem, and every
 * citation of it names a section it has; and no file cites a page that lives outside the
 * repository (the team's contract or notes), so every citation can be followed from a clone. The
 * README names the Debian packages the tests install (test/support/system-tool.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { systemTools } from './support/system-tool.ts';

const root = resolve(import.meta.dirname, '..');
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((p) => p !== '' && existsSync(join(root, p)));
const pages = tracked.filter((p) => p.endsWith('.md'));
/** Every tracked text file (binary files, such as the screenshot, hold a NUL byte; the lockfile only package names). */
const texts = tracked
  .filter((p) => p !== 'package-lock.json')
  .map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }))
  .filter(({ text }) => !text.includes('\0'));

const behaviourPage = 'docs/behaviour.md';
/** The subsystems the page must keep a section for, as their headings read (the anchors follow from them). */
const subsystems = [
  'Configuration',
  'Proxying',
  'Logging',
  'Admin listener',
  'Lifecycle',
  'Upgrade and WebSocket',
  'TLS termination',
  'Trace export',
  'Protecting the app',
  'Access control',
  'Edge limits',
  'Compression',
  'Dashboards and status page',
  'Runtimes',
  'Deployment',
  'Performance',
];

/** GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
const anchorOf = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
/** The anchors of a Markdown page's headings. */
const anchorsOf = (page: string) =>
  new Set([...readFileSync(join(root, page), 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => anchorOf(m[1] ?? '')));
const headings = [...readFileSync(join(root, behaviourPage), 'utf8').matchAll(/^##+ (.+)$/gm)].map((m) => m[1] ?? '');
const anchors = new Set(headings.map(anchorOf));

/**
 * What cites a page outside the repository: the contract by its name (spelt with a class so that
 * this file does not match itself), or any relative path that climbs out with `..` into a folder
 * named shared (the team's notes; no folder of the repository is called that: the runtimes'
 * common helpers are in runtimes/common/).
 */
function outsideCitations(text: string): string[] {
  return [...text.matchAll(/\bS[P]EC(\.md)?\b|(?:\.\.\/)+shared\/[\w./-]*\w/g)].map((m) => m[0]);
}

describe('documentation', () => {
  it('has pages to check', () => {
    expect(pages).toContain('README.md');
    expect(pages).toContain('bench/README.md');
    expect(pages).toContain(behaviourPage);
  });

  it.each(pages)('%s links only to files in the repository', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    const targets = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1] ?? '')
      .filter((t) => !/^[a-z]+:/i.test(t));
    const missing = targets.filter((target) => !existsSync(join(dirname(join(root, page)), target)));
    expect(missing, `links in ${page} to nothing`).toEqual([]);
  });

  it.each(pages)('%s links only to headings its target page has', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    const broken = [...text.matchAll(/\]\(([^)#\s]*)#([^)\s]+)\)/g)]
      .filter(([, target = '']) => target === '' || target.endsWith('.md'))
      .map(([, target = '', anchor = '']) => ({ target: target === '' ? page : join(dirname(page), target), anchor }))
      .filter(({ target, anchor }) => !existsSync(join(root, target)) || !anchorsOf(target).has(anchor))
      .map(({ target, anchor }) => `${target}#${anchor}`);
    expect(broken, `links in ${page} to no heading`).toEqual([]);
  });

  it('the README names, under the test command, every Debian package the tests install', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const sentence = readme.split('\n\n').find((p) => p.startsWith('`npm test` installs, as root')) ?? '';
    const packages = [...new Set(Object.values(systemTools).map((tool) => tool.package))];
    expect(packages.filter((p) => !sentence.includes(`\`${p}\``))).toEqual([]);
  });

  it('the README links docs/behaviour.md near its top', () => {
    const top = readFileSync(join(root, 'README.md'), 'utf8').split('\n').slice(0, 20).join('\n');
    expect(top).toContain('What the sidecar promises, section by section: [docs/behaviour.md](docs/behaviour.md)');
  });
});

describe('docs/behaviour.md', () => {
  it('has a section for every subsystem', () => {
    expect(subsystems.filter((s) => !headings.includes(s))).toEqual([]);
  });

  it('no longer marks the sections milestone 3 has built (their suites hold them)', () => {
    const text = readFileSync(join(root, behaviourPage), 'utf8');
    for (const section of ['Access control', 'Edge limits', 'Compression']) {
      const body = text.split(`\n## ${section}\n`)[1]?.split('\n## ')[0] ?? '';
      expect(body, section).not.toBe('');
      expect(body, section).not.toContain('being built');
    }
  });

  // Cited as `docs/behaviour.md#proxying` or as `docs/behaviour.md, Proxying` (a section name starts with a capital).
  it('every citation of it, in any file, names a section it has', () => {
    const broken: string[] = [];
    for (const { path, text } of texts) {
      for (const [, anchor = ''] of text.matchAll(/docs\/behaviour\.md#([\w-]+)/g))
        if (!anchors.has(anchor)) broken.push(`${path}: #${anchor}`);
      for (const [, rest = ''] of text.matchAll(/docs\/behaviour\.md, ([A-Z][^\n]*)/g))
        if (!headings.some((h) => rest.startsWith(h))) broken.push(`${path}: ", ${rest}"`);
    }
    expect(broken).toEqual([]);
  });
});

describe('the repository is self-contained', () => {
  it('no file cites a page outside the repository', () => {
    const offenders = texts.flatMap(({ path, text }) => outsideCitations(text).map((cited) => `${path}: ${cited}`));
    expect(offenders).toEqual([]);
  });

  it('catches a citation of the contract or the team notes, whatever the folder depth', () => {
    // Written in pieces, so that this file does not cite what it tests for.
    const up = '../';
    expect(outsideCitations(`// (S${'PEC'}, Proxying)`)).toHaveLength(1);
    expect(outsideCitations(` * (${up}${up}shared/notes/runtimes.md)`)).toEqual([`${up}${up}shared/notes/runtimes.md`]);
    expect(outsideCitations(`from '${up}shared/ws-upstream.ts';`)).toEqual([`${up}shared/ws-upstream.ts`]);
    expect(outsideCitations(`from '${up}common/ws-upstream.ts';`)).toEqual([]);
  });
});
