/**
 * `npm start`: the demo pod on this machine. The legacy app on 8080 and the Node sidecar on 8000
 * in front of it (admin on 9901), as the Kubernetes pod runs them. The sidecar's access log is
 * this process's stdout. Ctrl-C (or SIGTERM) drains the sidecar first, then stops the app.
 * With TLS_CERT_FILE and TLS_KEY_FILE set, the sidecar serves the demo over HTTPS and HTTP/2.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const appPort = process.env.APP_PORT ?? '8080';
const sidecarEnv = {
  ...process.env,
  TARGET: `http://localhost:${appPort}`,
  PORT: process.env.PORT ?? '8000',
  ADMIN_PORT: process.env.ADMIN_PORT ?? '9901',
  SRV_NAME: process.env.SRV_NAME ?? 'legacy',
};

const start = (name: string, file: string, env: NodeJS.ProcessEnv): ChildProcess => {
  // Own process group: a terminal's Ctrl-C reaches only this script, which stops the children
  // in order (a second SIGINT straight from the terminal would make the sidecar exit at once).
  const child = spawn(process.execPath, [file], {
    cwd: root,
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
    detached: true,
  });
  child.stderr?.on('data', (data: Buffer) => process.stderr.write(data));
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`demo: ${name} exited (${signal ?? code}); stopping\n`);
      void stop(1);
    }
  });
  return child;
};

const waitForLine = (child: ChildProcess, pattern: RegExp) =>
  new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (data: Buffer) => {
      seen += data.toString();
      if (pattern.test(seen)) {
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error('exited before it was ready')));
  });

let stopping = false;
const app = start('legacy app', 'src/legacy.ts', { ...process.env, PORT: appPort });
await waitForLine(app, /listening/);
const sidecar = start('sidecar', 'runtimes/node.ts', sidecarEnv);
await waitForLine(sidecar, /listening on/);
// TLS_CERT_FILE and TLS_KEY_FILE pass through to the sidecar, which then serves HTTPS (and h2).
const scheme = process.env.TLS_CERT_FILE && process.env.TLS_KEY_FILE ? 'https' : 'http';
process.stderr.write(
  `\ndemo: legacy app  http://localhost:${appPort}/\n` +
    `demo: sidecar     ${scheme}://localhost:${sidecarEnv.PORT}/   <- open this one\n` +
    `demo: status page http://localhost:${sidecarEnv.ADMIN_PORT}/   (admin port: also /metrics /healthz /readyz)\n` +
    `demo: access log below (stdout); Ctrl-C stops both\n\n`,
);

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  // The sidecar first, so requests in flight finish against a running app.
  for (const child of [sidecar, app]) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
