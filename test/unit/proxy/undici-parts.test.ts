import { describe, expect, it } from 'vitest';
import * as undici from 'undici';
import { Agent, Pool, request } from '../../../runtimes/node/undici-parts.ts';

// runtimes/node/undici-parts.ts imports undici's own files instead of its index, so the bundle
// does not carry all of undici: an upgrade that moves or changes one of them must fail here.
describe("the Node adapter's parts of undici", () => {
  it('are the classes undici exports', () => {
    expect(Pool).toBe(undici.Pool);
    expect(Agent).toBe(undici.Agent);
  });

  it("send a request through a pool and an agent with undici's own request API", async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const agent = new Agent();
    const pool = new Pool(origin);
    try {
      const viaAgent = await request(agent, { origin, path: '/', method: 'GET' });
      expect(await viaAgent.body.text()).toBe('ok');
      const viaPool = await request(pool, { path: '/', method: 'GET' });
      expect(viaPool.statusCode).toBe(200);
      await viaPool.body.dump();
    } finally {
      await Promise.all([agent.close(), pool.close()]);
      server.close();
    }
  });
});
