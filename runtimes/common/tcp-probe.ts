/**
 * Readiness probe: the app accepts a TCP connection on TARGET's host and port. node:net works the
 * same on Node, Bun and Deno, and a connect is all "the app answered a connection" needs.
 */
import { connect } from 'node:net';
import type { Config } from '../../src/config.ts';
import type { UpstreamProbe } from '../../src/admin/readiness.ts';

export function createTcpProbe({ hostname: host, port }: Config['TARGET']): UpstreamProbe {
  return (timeoutMs) =>
    new Promise((resolve) => {
      const socket = connect({ host, port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
}
