/**
 * The status page in a real browser, on each runtime: Debian's headless Chromium, driven by
 * playwright-core (no browser download), loads GET / from the sidecar after known traffic. The
 * numbers in the DOM must be those of /stats.json and of the traffic; the page must load nothing
 * from elsewhere and log no error (a CSP violation included). On Node (the pod's runtime) it must
 * also draw its chart and update itself as traffic comes. Screenshots are saved in the test's
 * temporary folder; STATUS_PAGE_SCREENSHOT=docs/status-page.png makes the README's picture (the
 * chart after a minute of traffic).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/http-client.ts';
import { runtimes, startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import { fetchStats } from './status.ts';
import type { Stats } from '../../src/admin/stats.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-status-page-'));
let upstream: Upstream;
let browser: Browser;

let chromiumPath: string;

// Debian's Chromium: installed here when missing (as root), else one line naming it; never a skip.
beforeAll(async () => {
  chromiumPath = await requireTool(systemTools.chromium);
}, INSTALL_TIMEOUT_MS);

beforeAll(async () => {
  upstream = await startUpstream();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(runtimes)('the status page of the sidecar on %s, in headless Chromium', (runtime) => {
  let sidecar: Sidecar;
  let page: Page;
  const requested: string[] = [];
  const problems: string[] = [];

  async function traffic(ok: number, failed: number, tag: string) {
    for (let i = 0; i < ok; i++) expect((await send(sidecar.url, `/page?id=${runtime}-${tag}-${i}`)).status).toBe(200);
    for (let i = 0; i < failed; i++)
      expect((await send(sidecar.url, `/_/reset?id=${runtime}-${tag}-reset-${i}`)).status).toBe(502);
  }
  const text = (selector: string) => page.locator(selector).textContent();
  const rows = (table: string) =>
    page.$$eval(`#${table} tr`, (trs) =>
      Object.fromEntries(
        (trs as HTMLTableRowElement[]).map((tr) => [tr.cells[0]?.textContent ?? '', tr.cells[1]?.textContent ?? '']),
      ),
    );

  beforeAll(async () => {
    sidecar = await startSidecar(runtime, { TARGET: upstream.url });
    await traffic(10, 2, 'before');
    page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${sidecar.adminUrl}/`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await page?.close();
    await sidecar?.stop();
  });

  it('shows the figures of /stats.json and of the traffic sent', async () => {
    const stats = await fetchStats(sidecar);
    expect(await text('#total-requests')).toBe('12');
    expect(await text('#active-requests')).toBe('0');
    expect(await text('#error-ratio')).toBe('16.7 %');
    expect(await rows('status-classes')).toEqual({ '2xx': '10', '5xx': '2' });
    expect(await rows('upstream-errors')).toEqual({
      upstream_reset: String(stats.totals.upstreamErrors.upstream_reset),
    });
    expect(await text('#version')).toBe(stats.version);
    expect(await text('#runtime')).toBe(stats.runtime);
    expect(await text('#runtime')).toMatch(new RegExp(`^${runtime} \\d+\\.\\d+\\.\\d+$`));
    expect(await text('#ready')).toBe('ready');
    expect(Number(await text('#requests-per-second'))).toBeGreaterThan(0);
    expect(await text('#p99')).toMatch(/^\d+(\.\d+)? ms$/);
    expect(await text('#uptime')).toMatch(/^(\d+m )?\d+s$/);
    expect(await text('#refusals')).toBe('0 (forbidden 0, rate limited 0, too large 0, unauthenticated 0)');
    const config = await rows('config');
    expect(config).toMatchObject({ TARGET: upstream.url, LOG_FORMAT: 'json' });
    expect(Object.keys(config)).toEqual(Object.keys(stats.config));
    await page.screenshot({ path: join(dir, `status-page-${runtime}.png`), fullPage: true });
    expect(statSync(join(dir, `status-page-${runtime}.png`)).size).toBeGreaterThan(10_000);
  });

  // On Node only (the pod's runtime): the page's code is the same string on all three, and the wait for history points costs seconds.
  if (runtime === 'node') {
    it('refreshes itself: new traffic shows without a reload, and the chart fills in', async () => {
      // The history gains a point every 5 s; traffic between them gives the chart a shape. Each
      // round waits for the page's own next refresh (it polls every 2 s), never a fixed pause.
      const chartPoints = () =>
        page.$$eval(
          '#rate-chart polyline',
          (lines) => (lines[0]?.getAttribute('points') ?? '').split(' ').filter(Boolean).length,
        );
      // STATUS_PAGE_SCREENSHOT=docs/status-page.png: a minute of uneven traffic, then the page is
      // saved there (how the README's picture is made).
      const screenshot = process.env.STATUS_PAGE_SCREENSHOT;
      const wanted = screenshot ? 12 : 2;
      const deadline = Date.now() + (screenshot ? 120_000 : 30_000);
      for (let round = 0; (await chartPoints()) < wanted; round++) {
        if (Date.now() > deadline) throw new Error(`the chart never got ${wanted} points`);
        await traffic(screenshot ? 3 + ((round * 7) % 11) : 3, round % 2, `chart-${round}`);
        const updated = await text('#updated');
        await page.waitForFunction((before) => document.getElementById('updated')?.textContent !== before, updated, {
          timeout: 10_000,
        });
      }
      const stats = await fetchStats(sidecar);
      await page.waitForFunction(
        (n) => document.getElementById('total-requests')?.textContent === String(n),
        stats.totals.requests,
        { timeout: 10_000 },
      );
      const series = await page.$$eval('#latency-chart polyline', (lines) =>
        lines.map((l) => l.getAttribute('data-series')),
      );
      expect(series).toEqual(['p50Seconds', 'p99Seconds']);
      await page.screenshot({ path: join(dir, 'status-page-chart.png'), fullPage: true });
      expect(statSync(join(dir, 'status-page-chart.png')).size).toBeGreaterThan(10_000);
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    }, 180_000);
  }

  // On Node only, as above: the page is the same string everywhere. Each case is a page of its own
  // whose /stats.json is answered with the figures the case needs (the page draws them as it
  // draws live ones), so no case waits for the history to grow.
  if (runtime === 'node') {
    const drawn = async (history: Stats['history'], config?: Record<string, string>) => {
      const stats = await fetchStats(sidecar);
      const own = await browser.newPage({ viewport: { width: 1100, height: 700 } });
      await own.route('**/stats.json', (route) =>
        route.fulfill({ json: { ...stats, history, config: config ?? stats.config } }),
      );
      await own.goto(`${sidecar.adminUrl}/`);
      await own.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });
      return own;
    };
    const point = (i: number, rate: number, p50: number | null, p99: number | null) => ({
      time: Date.now() - (30 - i) * 5000,
      requestsPerSecond: rate,
      errorRatio: 0,
      p50Seconds: p50,
      p99Seconds: p99,
    });
    const labels = (p: Page, chart: string) =>
      p.$$eval(`#${chart} text.tick`, (texts) => texts.map((t) => t.textContent ?? ''));

    it('draws its charts from the first point, and before it takes little room and says when it comes', async () => {
      const before = await drawn([]);
      try {
        const box = await before.locator('#rate-chart').boundingBox();
        expect(box?.height).toBeLessThanOrEqual(40);
        expect(await before.locator('#rate-chart').textContent()).toMatch(/every 5 s/);
        expect(await before.locator('#latency-chart').textContent()).not.toMatch(/collecting/);
      } finally {
        await before.close();
      }
      const first = await drawn([point(29, 12.5, 0.002, 0.03)]);
      try {
        expect((await first.locator('#rate-chart').boundingBox())?.height).toBeGreaterThanOrEqual(100);
        expect(await first.$$eval('#rate-chart circle', (c) => c.map((e) => e.getAttribute('data-series')))).toEqual([
          'requestsPerSecond',
        ]);
        expect(await first.$$eval('#latency-chart circle', (c) => c.map((e) => e.getAttribute('data-series')))).toEqual(
          ['p50Seconds', 'p99Seconds'],
        );
        expect(await first.locator('#rate-chart').textContent()).not.toMatch(/collecting/);
      } finally {
        await first.close();
      }
    });

    it('gives each chart a scale: y-axis labels from 0 to a round maximum above the highest value, with its unit', async () => {
      const history = Array.from({ length: 30 }, (_, i) =>
        point(i, 10 + (i % 7) * 4.5, 0.0011 + i / 1e5, 0.012 + (i % 5) / 200),
      );
      const p = await drawn(history);
      try {
        const rate = await labels(p, 'rate-chart');
        expect(rate.at(-1)).toBe('0');
        expect(rate[0]).toMatch(/^\d+(\.\d+)? req\/s$/);
        // The highest rate drawn is 37: the top of the scale is a round number at or above it.
        expect(Number.parseFloat(rate[0] ?? '')).toBeGreaterThanOrEqual(37);
        expect(Number.parseFloat(rate[0] ?? '')).toBeLessThanOrEqual(50);
        const latency = await labels(p, 'latency-chart');
        expect(latency.at(-1)).toBe('0');
        expect(latency[0]).toMatch(/^\d+(\.\d+)? ms$/);
        expect(Number.parseFloat(latency[0] ?? '')).toBeGreaterThanOrEqual(32);
        await p.screenshot({ path: join(dir, 'status-page-scale.png'), fullPage: true });
      } finally {
        await p.close();
      }
    });

    it('never breaks a configuration value inside a word: values that fit a line keep to one, longer ones stay in their cell', async () => {
      const config = {
        ...(await fetchStats(sidecar)).config,
        TARGET: 'http://localhost:8080/',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel-collector.observability.svc.cluster.local:4318/v1/traces',
        COMPRESS_TYPES: 'text/html,text/css,text/plain,text/javascript,application/javascript,application/json',
      };
      const p = await drawn([], config);
      try {
        const cells = await p.$$eval('#config tr', (trs) =>
          (trs as HTMLTableRowElement[]).map((tr) => {
            const cell = tr.cells[1] as HTMLTableCellElement;
            const range = document.createRange();
            range.selectNodeContents(cell);
            return {
              name: tr.cells[0]?.textContent ?? '',
              value: cell.textContent ?? '',
              // One rect per piece of text per line: the lines are the distinct tops.
              lines: new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size,
              overflows: cell.scrollWidth > cell.clientWidth + 1,
            };
          }),
        );
        for (const cell of cells) {
          if (cell.value.length <= 30) expect(cell, 'a short value on one line').toMatchObject({ lines: 1 });
          expect(cell.overflows, `${cell.name} inside its cell`).toBe(false);
        }
        expect(cells.find((c) => c.name === 'TARGET')).toMatchObject({ lines: 1 });
        await p.screenshot({ path: join(dir, 'status-page-config.png'), fullPage: true });
      } finally {
        await p.close();
      }
    });
  }

  it('loaded nothing but its own page and /stats.json, and logged no error', () => {
    const origins = new Set(requested.map((url) => new URL(url).origin));
    expect([...origins]).toEqual([sidecar.adminUrl]);
    expect(new Set(requested.map((url) => new URL(url).pathname))).toEqual(new Set(['/', '/stats.json']));
    expect(problems).toEqual([]);
  });
});
