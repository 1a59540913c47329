/**
 * A minor GC after every few MiB of streamed response body, on Node. Why: a streamed chunk is a view
 * of the buffer Node read the socket into (undici's parser hands out `FastBuffer` views,
 * lib/dispatcher/client-h1.js `wasm_on_body`), memory outside V8's heap that is freed only when
 * the chunk's small JS object is collected. A stream allocates so little on the JS heap per 64 KiB
 * that the young generation fills only after gigabytes; V8 collects earlier only once external
 * memory has grown by its limit (64 MiB past the last GC). So a 1 GiB download grew the sidecar's
 * RSS by 65-97 MiB of chunks already sent (bench/README.md). A scavenge of a young generation
 * that holds little live data takes well under a millisecond (0.3 ms measured), once per
 * `everyBytes`; every 4 MiB, a 1 GiB download grew RSS by 24-27 MiB instead of 93-97, and used
 * less CPU, not more (770-1050 ms against 1300-1460: the same few buffers stay in cache).
 *
 * `gc` comes from V8's own extension, exposed at run time (Node's documented pattern for
 * `v8.setFlagsFromString`): no command-line flag, and nothing else in the process can reach it.
 * Deno's V8 exposes it the same way. Bun (JavaScriptCore) has no such extension: there the
 * collector does nothing, and Bun's own collector keeps a tunnel's growth low (bench/ws-memory.ts).
 *
 * The byte tunnel (tunnel-sockets.ts) has the same trouble with every chunk it reads: six
 * WebSocket clients sending 40 MiB each through it at once grew Deno's sidecar by 163-187 MiB and
 * Node's by 60-70 MiB of chunks already passed on; a scavenge every 4 MiB tunnelled: +32-38 and
 * +11-14 MiB (bench/ws-memory.ts).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/**
 * V8's `gc`. Deno's task starts it with `--v8-flags=--expose-gc` (deno.json): the `gc` Deno's
 * node:vm hands out runs a full GC whatever it is asked (9 ms, where a scavenge takes 1), so there
 * the global one is used. Node: exposed at run time as below, and only to this module.
 */
function exposedGc(): Gc | undefined {
  const global = (globalThis as { gc?: Gc }).gc;
  if (typeof global === 'function') return global;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as Gc | undefined;
  setFlagsFromString('--no-expose-gc');
  return gc;
}

export function streamedBytesCollector(everyBytes: number): (bytes: number) => void {
  const gc = exposedGc();
  if (gc === undefined) return () => {};
  let sinceLast = 0;
  return (bytes) => {
    sinceLast += bytes;
    if (sinceLast < everyBytes) return;
    sinceLast = 0;
    gc({ type: 'minor' });
  };
}
