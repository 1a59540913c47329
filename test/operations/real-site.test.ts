/**
 * The real-world check for docs/behaviour.md#compression: a site served by a real nginx (static
 * files, its own ETag, Last-Modified and Accept-Ranges, no gzip), loaded by Debian's headless
 * Chromium through the sidecar on each runtime, once with the default (bytes pass unchanged) and
 * once with COMPRESS=br,gzip. Chromium must render the page whole both ways: its script ran and
 * drew the JSON it fetched, its stylesheet applied, its SVG decoded, no request failed and nothing
 * was logged as an error; with COMPRESS every text resource came compressed (Chromium asks for
 * `gzip, deflate, br, zstd`), without it none did. A reload (revalidating some resources with
 * nginx, weak ETags and all, as Chromium chooses) renders the same page.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, runtimes, startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { INSTALL_TIMEOUT_MS, requireTool, requireTools, systemTools } from '../support/system-tool.ts';
import { waitUntil } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-real-site-'));
const site = join(dir, 'site');
const rows = 300;

/** The site: an HTML page, a stylesheet, a script that fetches JSON and draws it, an SVG logo. */
function writeSite(): void {
  mkdirSync(join(site, 'assets'), { recursive: true });
  const filler = Array.from({ length: 60 }, (_, i) => `<p class="intro">Paragraph ${i} of the shop's front page.</p>`);
  writeFileSync(
    join(site, 'index.html'),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css"><script type="module" src="/assets/app.js"></script></head>
<body><h1 id="title">Orders</h1><img id="logo" src="/assets/logo.svg" alt="logo" width="64" height="64">
${filler.join('\n')}<table id="orders"></table></body></html>\n`,
  );
  const rules = Array.from({ length: 80 }, (_, i) => `.col-${i} { padding: ${i % 7}px; margin: ${i % 5}px; }`);
  writeFileSync(join(site, 'assets', 'style.css'), `h1#title { color: rgb(12, 34, 56); }\n${rules.join('\n')}\n`);
  writeFileSync(
    join(site, 'assets', 'app.js'),
    `${'// The shop front page script: a licence header as long as real ones, so the file is over 1 KiB.\n'.repeat(16)}// Draws the orders the JSON lists, then marks the page done.
const response = await fetch('/assets/orders.json');
const orders = await response.json();
const table = document.getElementById('orders');
for (const order of orders) {
  const row = table.insertRow();
  row.insertCell().textContent = String(order.id);
  row.insertCell().textContent = order.customer;
  row.insertCell().textContent = order.total.toFixed(2);
}
document.body.dataset.done = String(orders.length);
`,
  );
  const orders = Array.from({ length: rows }, (_, i) => ({
    id: 1000 + i,
    customer: `customer ${(i * 7919) % 997}`,
    total: (i * 37) % 1000,
  }));
  writeFileSync(join(site, 'assets', 'orders.json'), JSON.stringify(orders));
  const circles = Array.from(
    { length: 40 },
    (_, i) =>
      `<circle cx="${(i * 13) % 64}" cy="${(i * 29) % 64}" r="${(i % 5) + 1}" fill="#${(i * 99999).toString(16).slice(0, 6).padEnd(6, '0')}"/>`,
  );
  writeFileSync(
    join(site, 'assets', 'logo.svg'),
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">${circles.join('')}</svg>\n`,
  );
}

/** nginx in the foreground, one process, serving the site as it comes (gzip off, its default). */
async function startNginx(bin: string, port: number): Promise<ChildProcess> {
  const pidFile = join(dir, 'nginx.pid');
  const conf = join(dir, 'nginx.conf');
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    conf,
    `daemon off;
master_process off;
pid ${pidFile};
error_log stderr warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${port};
    root ${site};
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-c', conf, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // nginx writes its pid file once its listening sockets are bound (ngx_create_pidfile comes
  // after ngx_init_cycle), and prints nothing: the file is the sign it is ready.
  const events = new EventEmitter();
  const watcher = watch(dir, () => events.emit('change'));
  child.on('exit', () => events.emit('change'));
  try {
    await waitUntil(
      events,
      () => {
        if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr}`);
        return existsSync(pidFile) ? true : undefined;
      },
      'nginx to write its pid file',
    );
  } finally {
    watcher.close();
  }
  return child;
}

let nginx: ChildProcess;
let nginxUrl: string;
let browser: Browser;

// Debian's Chromium and nginx: installed here when missing (as root), else one line naming them.
beforeAll(() => requireTools([systemTools.chromium, systemTools.nginx]), INSTALL_TIMEOUT_MS);

beforeAll(async () => {
  writeSite();
  const port = await closedPort();
  nginx = await startNginx(await requireTool(systemTools.nginx), port);
  nginxUrl = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({
    executablePath: await requireTool(systemTools.chromium),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  nginx?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(runtimes)('a real nginx site in headless Chromium through the sidecar on %s', (runtime) => {
  const sidecars: Record<'plain' | 'compressing', Promise<Sidecar>> = {} as never;
  beforeAll(() => {
    for (const [name, env] of [
      ['plain', {}],
      ['compressing', { COMPRESS: 'br,gzip' }],
    ] as const) {
      sidecars[name] = startSidecar(runtime, { TARGET: nginxUrl, ...env });
      sidecars[name].catch(() => undefined);
    }
  });
  afterAll(async () => {
    await Promise.allSettled(Object.values(sidecars).map((p) => p.then((s) => s.stop())));
  });

  for (const name of ['plain', 'compressing'] as const) {
    it(`${name === 'plain' ? 'COMPRESS unset: the site arrives as nginx sent it' : 'COMPRESS=br,gzip: every text resource arrives compressed'} and renders whole, also after a reload`, async () => {
      const sidecar = await sidecars[name];
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      const encodings = new Map<string, string>();
      let accepted = '';
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
      page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
      page.on('response', async (response) => {
        const path = new URL(response.url()).pathname;
        if (path === '/index.html') accepted = (await response.request().allHeaders())['accept-encoding'] ?? '';
        if (response.status() !== 200 && response.status() !== 304)
          problems.push(`status ${response.status()}: ${path}`);
        // The first load's answers: a reload's revalidated ones carry the 304's headers.
        if (response.status() === 200 && !encodings.has(path))
          encodings.set(path, (await response.allHeaders())['content-encoding'] ?? 'none');
      });
      try {
        for (const load of ['first load', 'reload']) {
          if (load === 'first load') await page.goto(`${sidecar.url}/index.html`);
          else await page.reload();
          await page.waitForSelector(`body[data-done="${rows}"]`, { timeout: 20_000 });
          expect(await page.locator('#orders tr').count(), load).toBe(rows);
          expect(await page.locator('#orders tr').last().textContent()).toBe(
            `${1000 + rows - 1}customer ${((rows - 1) * 7919) % 997}${(((rows - 1) * 37) % 1000).toFixed(2)}`,
          );
          expect(await page.$eval('#title', (h) => getComputedStyle(h).color), load).toBe('rgb(12, 34, 56)');
          expect(await page.$eval('#logo', (img) => (img as HTMLImageElement).naturalWidth), load).toBe(64);
        }
        expect(problems).toEqual([]);
        // Chromium offers br on secure contexts, which http://127.0.0.1 is; gzip otherwise.
        const expected = name === 'plain' ? 'none' : accepted.includes('br') ? 'br' : 'gzip';
        expect(accepted).toContain('gzip');
        const paths = ['/index.html', '/assets/style.css', '/assets/app.js', '/assets/orders.json', '/assets/logo.svg'];
        expect(Object.fromEntries(paths.map((path) => [path, encodings.get(path)]))).toEqual(
          Object.fromEntries(paths.map((path) => [path, expected])),
        );
      } finally {
        await context.close();
      }
    });
  }
});
