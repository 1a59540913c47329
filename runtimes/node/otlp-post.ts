/**
 * Node's way to POST a batch of spans: undici's request API on one keep-alive Agent, shaped as the
 * small part of `fetch` the OTLP exporter uses (status, headers, a body it discards). Node's global
 * `fetch` builds a WHATWG Request and Response and their streams per POST, which measured as the
 * bulk of trace export's cost per request (bench/README.md, "The quiet run after milestone 2").
 */
import { Agent, request } from './undici-parts.ts';

export function createOtlpPost(): { fetch: typeof fetch; close(): Promise<void> } {
  // HTTP/1.1, as the upstream's pool (upstream.ts) and the other runtimes' clients: undici 8 would
  // otherwise offer h2 to an https collector by ALPN.
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 2, allowH2: false });
  const post = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input));
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    const res = await request(agent, {
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'POST',
      headers,
      body: init.body as Uint8Array | string,
      signal: init.signal ?? undefined,
    });
    // The collector's answer body (an ExportTraceServiceResponse) is not read: it is dropped.
    await res.body.dump();
    const answer = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) answer.append(name, v);
    }
    return new Response(null, { status: res.statusCode, headers: answer });
  };
  return { fetch: post as typeof fetch, close: () => agent.close() };
}
