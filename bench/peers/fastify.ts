// Peer: `@fastify/http-proxy` (undici pool through @fastify/reply-from, keep-alive by default).
// Fastify's own request logging writes two lines per request, so it is off and an onResponse hook
// writes the same single JSON line the other peers write.
// Env: TARGET, PORT, HOST.
import { fastify } from 'fastify';
import fastifyHttpProxy from '@fastify/http-proxy';
import { listenMessage, logRequest } from './access-log.ts';

const target = process.env.TARGET ?? 'http://127.0.0.1:8080';
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? '0');

const app = fastify({ logger: false, keepAliveTimeout: 65_000 });
const started = new WeakMap<object, number>();
app.addHook('onRequest', (request, _reply, done) => {
  started.set(request.raw, performance.now());
  done();
});
app.addHook('onResponse', (request, reply, done) => {
  logRequest('fastify', target, request.raw, reply.raw, started.get(request.raw) ?? performance.now());
  done();
});
await app.register(fastifyHttpProxy, { upstream: target, undici: { connections: 64, pipelining: 1 } });
await app.listen({ port, host });
const address = app.server.address();
process.stderr.write(listenMessage('fastify', host, typeof address === 'object' && address ? address.port : port));

const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
