// How the servers of a run start and stop: the upstream (and the OTLP sink) first, each sidecar
// timed from spawn to ready on a quiet machine, then every row up, each proxy with the same
// environment, ready when its admin /readyz (or its port) answers and `GET /` through it says
// "Hello you!"; stopped last, a sidecar by SIGTERM (it should drain and exit 0).
import { join } from 'node:path';
import { BENCH_DIR, ROOT, log } from './context.ts';
import type { Run } from './context.ts';
import { NGINX_GZIP_LEVEL, checkCompressed } from './compression-rows.ts';
import { AUTH_TARGETS, checkRefusedWithout, startAuthRig } from './auth-rows.ts';
import { writeNginxConfig } from './nginx.ts';
import type { NginxInfo } from './nginx.ts';
import {
  commandLine,
  freePort,
  httpGet,
  readMem,
  servingPids,
  sleep,
  spawnServer,
  spawnUpstream,
  stopServer,
  waitReady,
} from './proc.ts';
import type { Server } from './proc.ts';
import type { Target } from './targets.ts';

export interface Upstream {
  server: Server;
  port: number;
  readyMs: number;
}

/** The upstream, in its own process; and the OTLP sink, when a row exports to one. */
export async function startUpstream(run: Run, targets: Target[]): Promise<Upstream> {
  const { server, port, readyMs } = await spawnUpstream(run.tmpDir, (s) => run.live.add(s));
  log(`upstream on 127.0.0.1:${port} (ready in ${readyMs.toFixed(0)} ms)`);
  if (targets.some((t) => AUTH_TARGETS.includes(t.def))) run.auth = await startAuthRig(run.tmpDir);
  if (targets.some((t) => t.def.name.endsWith('-otlp'))) {
    run.otlpSinkPort = await freePort();
    const sink = spawnServer(
      [process.execPath, join(BENCH_DIR, 'peers/otlp-sink.ts')],
      { ...process.env, PORT: String(run.otlpSinkPort), HOST: '127.0.0.1' },
      ROOT,
      run.tmpDir,
    );
    run.live.add(sink);
    await waitReady(sink, [`http://127.0.0.1:${run.otlpSinkPort}/`], 10_000);
  }
  return { server, port, readyMs };
}

/** Start-to-ready of each sidecar, --start-runs times, on a machine with nothing else running. */
export async function timeStartups(run: Run, targets: Target[], upstream: Upstream): Promise<void> {
  for (const t of targets) {
    if (t.def.kind !== 'sidecar' || t.status !== 'ok' || run.opts.startRuns === 0) continue;
    for (let i = 0; i < run.opts.startRuns; i++) {
      const probe: Target = { ...t, samples: [], startMs: [], server: null, servingPids: [], servingCommand: [] };
      try {
        t.startMs.push(await startTarget(run, probe, upstream.port, null));
      } catch (err) {
        t.status = 'failed';
        t.reason = `start: ${(err as Error).message}; stderr: ${stderrSummary(probe.server)}`;
      } finally {
        if (probe.server) {
          await stopServer(probe.server);
          run.live.delete(probe.server);
        }
      }
      if (t.status !== 'ok') break;
    }
    log(
      t.status === 'ok'
        ? `${t.def.name}: start-to-ready ${t.startMs.map((m) => m.toFixed(0)).join(', ')} ms`
        : `${t.def.name}: FAILED: ${t.reason}`,
    );
  }
}

/** Everything up for the load rounds: the direct row is the upstream itself. */
export async function startTargets(
  run: Run,
  targets: Target[],
  upstream: Upstream,
  nginx: NginxInfo | null,
): Promise<void> {
  for (const t of targets) {
    if (t.status !== 'ok') continue;
    if (t.def.kind === 'direct') {
      t.port = upstream.port;
      t.server = upstream.server;
      t.command = upstream.server.child.spawnargs;
      t.servingPids = [upstream.server.pid];
      t.servingCommand = [commandLine(upstream.server.pid)];
      t.startMs = [upstream.readyMs];
      continue;
    }
    try {
      const ms = await startTarget(run, t, upstream.port, nginx);
      if (t.def.kind !== 'sidecar' || t.startMs.length === 0) t.startMs.push(ms);
      log(
        `${t.def.name}: up on :${t.port}, serving pid(s) ${t.servingPids.join(',')} (${t.servingCommand.join(' | ').slice(0, 100)})`,
      );
    } catch (err) {
      t.status = 'failed';
      t.reason = `start: ${(err as Error).message}; stderr: ${stderrSummary(t.server)}`;
      log(`${t.def.name}: FAILED to start: ${t.reason}`);
      if (t.server) await stopServer(t.server);
    }
  }
  // Idle: each row's RSS once every row is up and a moment has passed, before any load (the
  // check that it proxies was its only request). The rows started first have idled longest.
  await sleep(IDLE_SETTLE_MS);
  for (const t of targets) {
    if (t.status !== 'ok' || t.servingPids.length === 0) continue;
    const mems = t.servingPids.map(readMem);
    t.idleRssKiB = mems.every((m) => m !== null) ? mems.reduce((sum, m) => sum + (m?.rssKiB ?? 0), 0) : null;
  }
  for (const deployed of run.deployed.values()) deployed.resetPeak();
}

const IDLE_SETTLE_MS = 2000;

/** Stops everything; a sidecar should drain and exit 0 on SIGTERM. */
export async function stopTargets(run: Run, targets: Target[], upstream: Upstream): Promise<void> {
  for (const t of targets) {
    if (!t.server || t.def.kind === 'direct') continue;
    const t1 = performance.now();
    await stopServer(t.server, 5000);
    run.live.delete(t.server);
    t.exit = `${t.server.exitInfo ?? 'killed'} after ${(performance.now() - t1).toFixed(0)} ms`;
    if (t.def.kind === 'sidecar' && t.status === 'ok' && t.server.exitInfo !== 0)
      run.notes.push(`${t.def.name}: on SIGTERM it ended with ${t.exit} (expected exit 0 after draining).`);
  }
  await stopServer(upstream.server);
  run.live.delete(upstream.server);
}

/** Starts a target and checks it proxies; returns spawn-to-ready in ms. */
async function startTarget(run: Run, t: Target, upstreamPort: number, nginx: NginxInfo | null): Promise<number> {
  const def = t.def;
  t.port = await freePort();
  t.adminPort = await freePort();
  let argv = def.argv(run);
  if (def.name === 'nginx' || def.name === 'nginx-gzip') {
    if (!nginx) throw new Error('nginx not installed');
    const dir = join(run.tmpDir, def.name);
    const gzipLevel = def.name === 'nginx-gzip' ? NGINX_GZIP_LEVEL : undefined;
    argv = writeNginxConfig(nginx, { dir, port: t.port, upstreamPort, workers: run.opts.nginxWorkers, gzipLevel });
  }
  t.command = argv;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TARGET: `http://127.0.0.1:${upstreamPort}`,
    PORT: String(t.port),
    ADMIN_PORT: String(t.adminPort),
    HOST: '127.0.0.1',
    LOG_FORMAT: 'json',
    SRV_NAME: 'bench',
    DRAIN_TIMEOUT_MS: '2000',
    ...def.env?.(run),
  };
  const server = spawnServer(argv, env, ROOT, run.tmpDir);
  run.live.add(server);
  t.server = server;
  const urls =
    def.kind === 'sidecar'
      ? [`http://127.0.0.1:${t.adminPort}/readyz`, `http://127.0.0.1:${t.adminPort}/healthz`]
      : [`http://127.0.0.1:${t.port}/`];
  const ready = await waitReady(server, urls, 20_000);
  t.readyUrl = ready.url;
  const hello = await httpGet(`http://127.0.0.1:${t.port}/`, 2000, def.headers?.(run));
  if (hello.status !== 200 || hello.body !== 'Hello you!')
    throw new Error(
      `GET / through it answered ${hello.status} ${JSON.stringify(hello.body.slice(0, 80))}, expected 200 "Hello you!"`,
    );
  await checkCompressed(t.port, def);
  await checkRefusedWithout(t.port, def);
  t.servingPids = servingPids(server.pid, t.port);
  t.servingCommand = t.servingPids.map(commandLine);
  return ready.ms;
}

/** The telling lines of a process's stderr, on one line: error lines first, else the last ones. */
export function stderrSummary(server: Server | null): string {
  const lines = (server?.stderrTail() ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^at /.test(l));
  const telling = lines.filter((l) => /error|invalid|fail|cannot|denied|EADDR|emerg|panic/i.test(l));
  const pick = (telling.length > 0 ? telling : lines.slice(-3)).slice(0, 3).join(' ⏎ ');
  return pick.length > 400 ? `${pick.slice(0, 400)}…` : pick || '(empty)';
}
