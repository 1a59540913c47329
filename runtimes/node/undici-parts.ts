/**
 * The parts of undici the Node adapter uses, each imported from its own file: undici's index
 * (`from 'undici'`) loads all of it at start-up (fetch, WebSocket, caches, mocks, proxies: 977 KiB
 * of the 1.9 MiB bundle, bench/README.md "Start-up as deployed"), where the sidecar needs a pool,
 * an agent and the request API. The paths are undici's own files (it has no `exports` map to forbid
 * them), as of the version package-lock.json pins; test/unit/undici-parts.test.ts fails if one
 * moves or stops being the class undici exports.
 */
import type { Agent as UndiciAgent, Dispatcher, Pool as UndiciPool } from 'undici';
import AgentFile from 'undici/lib/dispatcher/agent.js';
import PoolFile from 'undici/lib/dispatcher/pool.js';
import requestFile from 'undici/lib/api/api-request.js';

export const Pool = PoolFile as typeof UndiciPool;
export type Pool = UndiciPool;
export const Agent = AgentFile as typeof UndiciAgent;
export type Agent = UndiciAgent;

/** `dispatcher.request(options)`: undici's index puts it on every Dispatcher; here it is called as it would be. */
export function request(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return (
    requestFile as (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>
  ).call(dispatcher, options);
}
