// `node bench/headers-cost.ts`: what the web Headers cost the Node sidecar per request (issue 14).
// The header operations one proxied GET goes through today (@hono/node-server materialising the
// incoming Headers, the handler's copy, hop-by-hop stripping, X-Forwarded-*, request id and
// traceparent, undici's flat list; the response's Headers built, stripped, set, and iterated by
// node-server into an object) replayed in a loop, against the same steps on flat name/value arrays
// (what a narrower internal request shape would use, bench/README.md) and on src/proxy/flat-headers.ts
// (what the sidecar takes them through since). CPU time, one process: not
// disturbed much by other load. It leaves out what both pay (parsing, syscalls).
import { FlatHeaders } from '../src/proxy/flat-headers.ts';
import { prepareForwardHeaders, stripHopByHop } from '../src/proxy/forward.ts';

const reqRaw = ['Host', '127.0.0.1:8000', 'User-Agent', 'wrk', 'Accept', '*/*', 'Connection', 'keep-alive'];
const resRaw: Record<string, string> = {
  'content-type': 'text/plain; charset=utf-8',
  'content-length': '10',
  date: 'Tue, 01 Dec 2026 08:00:00 GMT',
  connection: 'keep-alive',
  'keep-alive': 'timeout=5',
};
const requestId = 'b7c2a4f0-0000-4000-8000-000000000000';
const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const hop = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
function web(): number {
  // @hono/node-server materialises the incoming headers once they are iterated.
  const native = new Headers();
  for (let i = 0; i < reqRaw.length; i += 2) native.append(reqRaw[i] as string, reqRaw[i + 1] as string);
  const ids = [native.get('x-request-id'), native.get('traceparent'), native.get('user-agent')];
  // The handler's copy, its checks, stripHopByHop, addForwardedHeaders, ids, bodiless GET.
  const h = new Headers();
  for (const [n, v] of native) h.append(n, v);
  h.has('host');
  h.has('upgrade');
  const c = h.get('connection');
  if (c) for (const t of c.split(',')) h.delete(t.trim().toLowerCase());
  for (const n of hop) h.delete(n);
  const xff = h.get('x-forwarded-for');
  h.set('x-forwarded-for', xff ? `${xff}, 127.0.0.1` : '127.0.0.1');
  h.set('x-forwarded-proto', 'http');
  h.set('x-forwarded-host', h.get('host') ?? '');
  h.set('x-request-id', requestId);
  h.set('traceparent', traceparent);
  h.delete('tracestate');
  h.delete('content-length');
  // runtimes/node/upstream.ts: undici's flat list.
  const flat: string[] = [];
  for (const [n, v] of h) if (n !== 'expect') flat.push(n, v);
  // The response: toHeaders, relay's strip and X-Request-Id, node-server's buildOutgoingHttpHeaders.
  const r = new Headers();
  for (const n in resRaw) r.append(n, resRaw[n] as string);
  const rc = r.get('connection');
  if (rc) for (const t of rc.split(',')) r.delete(t.trim().toLowerCase());
  for (const n of hop) r.delete(n);
  r.set('x-request-id', requestId);
  const out: Record<string, string> = {};
  for (const [n, v] of r) out[n] = v;
  return flat.length + Object.keys(out).length + ids.filter(Boolean).length;
}

function arrays(): number {
  const get = (a: string[], n: string): string | null => {
    for (let i = 0; i < a.length; i += 2) if (a[i] === n) return a[i + 1] as string;
    return null;
  };
  const del = (a: string[], n: string): void => {
    for (let i = a.length - 2; i >= 0; i -= 2) if (a[i] === n) a.splice(i, 2);
  };
  const set = (a: string[], n: string, v: string): void => {
    del(a, n);
    a.push(n, v);
  };
  const h: string[] = [];
  for (let i = 0; i < reqRaw.length; i += 2) h.push((reqRaw[i] as string).toLowerCase(), reqRaw[i + 1] as string);
  const ids = [get(h, 'x-request-id'), get(h, 'traceparent'), get(h, 'user-agent')];
  get(h, 'host');
  get(h, 'upgrade');
  const c = get(h, 'connection');
  if (c) for (const t of c.split(',')) del(h, t.trim().toLowerCase());
  for (const n of hop) del(h, n);
  const xff = get(h, 'x-forwarded-for');
  set(h, 'x-forwarded-for', xff ? `${xff}, 127.0.0.1` : '127.0.0.1');
  set(h, 'x-forwarded-proto', 'http');
  set(h, 'x-forwarded-host', get(h, 'host') ?? '');
  set(h, 'x-request-id', requestId);
  set(h, 'traceparent', traceparent);
  del(h, 'tracestate');
  del(h, 'content-length');
  const r: string[] = [];
  for (const n in resRaw) r.push(n, resRaw[n] as string);
  const rc = get(r, 'connection');
  if (rc) for (const t of rc.split(',')) del(r, t.trim().toLowerCase());
  for (const n of hop) del(r, n);
  set(r, 'x-request-id', requestId);
  return h.length + r.length + ids.filter(Boolean).length;
}

/** The same steps as the sidecar now takes them: src/proxy/flat-headers.ts and forward.ts's own functions. */
const trace = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: undefined,
  flags: '01',
};
function flatHeaders(): number {
  const h = FlatHeaders.fromRaw(reqRaw);
  const ids = [h.get('x-request-id'), h.get('traceparent'), h.get('user-agent')];
  h.has('host');
  prepareForwardHeaders(h, { remoteAddress: '127.0.0.1', proto: 'http', requestId, trace });
  h.delete('content-length');
  const fields = h.fields();
  const flat: string[] = [];
  for (let i = 0; i < fields.length; i += 2)
    if (fields[i] !== 'expect') flat.push(fields[i] as string, fields[i + 1] as string);
  const r = FlatHeaders.fromRecord(resRaw);
  stripHopByHop(r);
  r.set('x-request-id', requestId);
  const out = r.init();
  return flat.length + Object.keys(out).length + ids.filter(Boolean).length;
}

const N = 200000;
// Round 1 warms the JIT up and is not reported.
for (const round of [1, 2, 3, 4, 5]) {
  for (const [name, f] of [
    ['web Headers', web],
    ['flat arrays', arrays],
    ['FlatHeaders', flatHeaders],
  ] as const) {
    let x = 0;
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) x += f();
    const c = process.cpuUsage(c0);
    if (round > 1)
      process.stdout.write(
        `round ${round} ${name.padEnd(12)} ${((c.user + c.system) / N).toFixed(2)} µs CPU per request${x > 0 ? '' : ' (!)'}\n`,
      );
  }
}
