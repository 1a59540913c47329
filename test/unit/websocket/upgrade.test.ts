/**
 * The core of WebSocket tunnels, in-process: what counts as a handshake, the headers the app and
 * the client get, the records and metrics of a tunnel's life, and the relay's rules.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { AccessRecord } from '../../../src/exchange.ts';
import { Metrics } from '../../../src/metrics.ts';
import { raw101Head, relayed101Headers } from '../../../src/websocket/handshake-headers.ts';
import { isWebSocketHandshake } from '../../../src/websocket/entry.ts';
import { Tunnels } from '../../../src/websocket/tunnels.ts';
import { CLOSE_GRACE_MS, relayMessages, sendableCloseCode } from '../../../src/websocket/message-relay.ts';
import type { Peer } from '../../../src/websocket/message-relay.ts';
import { RelayBudget } from '../../../src/websocket/relay-budget.ts';

const config = loadConfig({ TARGET: 'http://app.internal:8080/base', SRV_NAME: 'svc' });

function setup() {
  const records: AccessRecord[] = [];
  const metrics = new Metrics();
  const tunnels = new Tunnels({ config, metrics, log: (r) => records.push({ ...r }) });
  const begin = (headers: Record<string, string> | [string, string][]) =>
    tunnels.begin({
      method: 'GET',
      headers: new Headers(headers),
      rawTarget: '/chat?room=1',
      url: 'http://sidecar/chat?room=1',
      remoteAddress: '192.0.2.7',
    });
  return { records, metrics, tunnels, begin };
}

const handshakeHeaders = {
  host: 'chat.example',
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-key': 'k',
  'sec-websocket-version': '13',
};

describe('isWebSocketHandshake', () => {
  it.each([
    ['GET', 'Upgrade', 'websocket', true],
    ['GET', 'keep-alive, upgrade', 'WebSocket', true],
    ['GET', 'upgrade', 'h2c, websocket', true],
    ['POST', 'upgrade', 'websocket', false],
    ['GET', 'keep-alive', 'websocket', false],
    ['GET', 'upgrade', 'h2c', false],
    ['GET', 'upgrade', 'websocket/13', false],
    ['GET', 'upgraded', 'websocket', false],
  ])('%s with Connection: %s and Upgrade: %s is a handshake: %s', (method, connection, upgrade, expected) => {
    expect(isWebSocketHandshake(method, new Headers({ connection, upgrade }))).toBe(expected);
  });

  it('needs both headers', () => {
    expect(isWebSocketHandshake('GET', new Headers({ upgrade: 'websocket' }))).toBe(false);
    expect(isWebSocketHandshake('GET', new Headers({ connection: 'upgrade' }))).toBe(false);
  });
});

describe('the handshake the app receives', () => {
  it("follows the request's header rules, then asks the app to switch, with Sec-WebSocket-* kept", () => {
    const { begin } = setup();
    const h = begin({
      ...handshakeHeaders,
      connection: 'Upgrade, X-Forwarded-For, X-Secret',
      'x-secret': 'hop',
      'x-forwarded-for': '203.0.113.1',
      'keep-alive': 'timeout=5',
      'sec-websocket-protocol': 'a, b',
      'sec-websocket-extensions': 'permessage-deflate',
      'x-request-id': 'rid-1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'k=v',
    });
    expect(h.url).toBe('http://app.internal:8080/base/chat?room=1');
    expect(h.headers.get('host')).toBe('chat.example');
    expect(h.headers.get('connection')).toBe('Upgrade');
    expect(h.headers.get('upgrade')).toBe('websocket');
    expect(h.headers.has('x-secret')).toBe(false);
    expect(h.headers.has('keep-alive')).toBe(false);
    // Named in Connection, so stripped first; then the sidecar's own added: a client cannot remove it.
    expect(h.headers.get('x-forwarded-for')).toBe('192.0.2.7');
    expect(h.headers.get('x-forwarded-proto')).toBe('http');
    expect(h.headers.get('x-forwarded-host')).toBe('chat.example');
    expect(h.headers.get('x-request-id')).toBe('rid-1');
    expect(h.headers.get('traceparent')).toMatch(
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/,
    );
    expect(h.headers.get('tracestate')).toBe('k=v');
    expect(h.headers.get('sec-websocket-key')).toBe('k');
    expect(h.headers.get('sec-websocket-version')).toBe('13');
    expect(h.headers.get('sec-websocket-extensions')).toBe('permessage-deflate');
    expect(h.protocols).toEqual(['a', 'b']);
    expect(h.requestId).toBe('rid-1');
  });
});

describe("a tunnel's records and metrics", () => {
  it('counts the handshake as a request, then as a 101; the open tunnel only in sidecar_tunnels_*; one record when it closes', async () => {
    const { begin, metrics, records, tunnels } = setup();
    const h = begin(handshakeHeaders);
    expect(metrics.activeRequests).toBe(1);
    let idle = false;
    void tunnels.idle().then(() => (idle = true));
    const close = vi.fn();
    const tunnel = h.opened(close);
    expect(metrics.activeRequests).toBe(0);
    expect(tunnels.open).toBe(1);
    const text = metrics.render();
    expect(text).toContain(
      'http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="101"} 1',
    );
    expect(text).toContain('sidecar_tunnels_active 1');
    expect(text).toContain('sidecar_tunnels_total 1');
    expect(records).toEqual([]);
    tunnel.bytesIn(10);
    tunnel.bytesOut(12);
    tunnels.closeAll();
    expect(close).toHaveBeenCalledOnce();
    tunnel.closed();
    tunnel.closed();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      status: 101,
      upgrade: 'websocket',
      bytesIn: 10,
      bytesOut: 12,
      method: 'GET',
      path: '/chat?room=1',
      service: 'svc',
      remoteAddr: '192.0.2.7',
    });
    expect(metrics.render()).toContain('sidecar_tunnels_active 0');
    await Promise.resolve();
    expect(idle).toBe(true);
  });

  it('a handshake the app refused, or that failed, is one ordinary record and no tunnel', () => {
    const { begin, metrics, records, tunnels } = setup();
    begin(handshakeHeaders).answered(403, undefined, 12);
    begin(handshakeHeaders).answered(504, 'upstream_timeout');
    expect(records.map((r) => [r.status, r.error, r.bytesOut, r.upgrade])).toEqual([
      [403, undefined, 12, undefined],
      [504, 'upstream_timeout', 0, undefined],
    ]);
    expect(metrics.activeRequests).toBe(0);
    expect(tunnels.open).toBe(0);
    expect(metrics.render()).toContain('sidecar_upstream_errors_total{reason="upstream_timeout"} 1');
    expect(metrics.render()).toContain('sidecar_tunnels_total 0');
  });
});

describe("the client's 101", () => {
  it("on a raw tunnel: the app's headers in their order and case, Set-Cookie several, X-Request-Id the exchange's", () => {
    const head = raw101Head(
      'Switching Protocols',
      [
        'Upgrade',
        'websocket',
        'Connection',
        'Upgrade',
        'Set-Cookie',
        'a=1',
        'X-Request-Id',
        'app-made',
        'Set-Cookie',
        'b=2',
      ],
      'rid',
    );
    expect(head).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-Id: rid\r\n\r\n',
    );
  });

  it("on a relay: the app's headers but hop-by-hop ones and the handshake's own, which the runtime writes for its leg", () => {
    const app = new Headers([
      ['upgrade', 'websocket'],
      ['connection', 'Upgrade'],
      ['sec-websocket-accept', 'x'],
      ['sec-websocket-protocol', 'b'],
      ['sec-websocket-extensions', 'permessage-deflate'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-app', 'kept'],
    ]);
    const headers = relayed101Headers(app, 'rid');
    expect([...headers]).toEqual([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-app', 'kept'],
      ['x-request-id', 'rid'],
    ]);
  });
});

describe('the message relay', () => {
  afterEach(() => vi.useRealTimers());

  function peer(sendResult = true) {
    const calls: unknown[][] = [];
    const unwritten: (() => void)[] = [];
    const p: Peer & { calls: unknown[][]; unwritten: (() => void)[] } = {
      calls,
      unwritten,
      send: (data, written) => (calls.push(['send', data]), unwritten.push(written), sendResult),
      ping: (data) => void calls.push(['ping', data]),
      pong: (data) => void calls.push(['pong', data]),
      close: (code, reason) => void calls.push(['close', code, reason]),
      terminate: () => void calls.push(['terminate']),
      pause: () => void calls.push(['pause']),
      resume: () => void calls.push(['resume']),
    };
    return p;
  }

  function relay(
    clientSends = true,
    appSends = true,
    limits = { maxMessageBytes: 100, budget: new RelayBudget(1000) },
  ) {
    const { begin, records } = setup();
    const client = peer(clientSends);
    const app = peer(appSends);
    const r = relayMessages(
      client,
      app,
      begin(handshakeHeaders).opened(() => r.goAway()),
      limits,
    );
    return { client, app, r, records };
  }

  it('passes a message exactly at the limit; one byte over closes both legs with 1009 and passes none of it', () => {
    const { client, app, r } = relay();
    r.client.message(new Uint8Array(100));
    r.app.message('é'.repeat(50));
    expect(app.calls).toEqual([['send', new Uint8Array(100)]]);
    expect(client.calls).toEqual([['send', 'é'.repeat(50)]]);
    r.client.message(new Uint8Array(101));
    expect(app.calls.slice(1)).toEqual([['close', 1009, 'message too big']]);
    expect(client.calls.slice(1)).toEqual([['close', 1009, 'message too big']]);
    // UTF-8 length counts: 51 two-byte characters are 102 bytes.
    const other = relay();
    other.r.app.message('é'.repeat(51));
    expect(other.client.calls).toEqual([['close', 1009, 'message too big']]);
  });

  it("closes both legs with 1009 when a runtime's reader finds a message over the limit", () => {
    const { client, app, r } = relay();
    r.app.tooBig();
    expect(client.calls).toEqual([['close', 1009, 'message too big']]);
    expect(app.calls).toEqual([['close', 1009, 'message too big']]);
  });

  it('pauses every relay while the budget is spent, and resumes them once written messages bring it back under', () => {
    const budget = new RelayBudget(150);
    const one = relay(true, true, { maxMessageBytes: 100, budget });
    const two = relay(true, true, { maxMessageBytes: 100, budget });
    one.r.client.message(new Uint8Array(100));
    expect(budget.held).toBe(100);
    expect(two.client.calls).toEqual([]);
    two.r.app.message(new Uint8Array(60));
    expect(budget.held).toBe(160);
    for (const p of [one.client, one.app, two.client, two.app]) expect(p.calls).toContainEqual(['pause']);
    // A relay that starts while it is spent starts paused.
    const three = relay(true, true, { maxMessageBytes: 100, budget });
    expect(three.client.calls).toEqual([['pause']]);
    one.app.unwritten[0]?.();
    one.app.unwritten[0]?.(); // written once only
    expect(budget.held).toBe(60);
    for (const p of [one.client, one.app, two.client, two.app, three.app]) expect(p.calls.at(-1)).toEqual(['resume']);
  });

  it('keeps a relay paused by its full receiver when the budget frees, and releases what an ended relay held', () => {
    const budget = new RelayBudget(100);
    const { client, app, r } = relay(true, false, { maxMessageBytes: 100, budget });
    r.client.message(new Uint8Array(100));
    expect(client.calls).toEqual([['pause']]);
    const other = relay(true, true, { maxMessageBytes: 100, budget });
    other.r.app.message(new Uint8Array(10));
    other.client.unwritten[0]?.();
    expect(budget.held).toBe(100);
    r.client.closed(1000, '');
    r.app.closed(1000, '');
    // The ended relay's unwritten message no longer counts; the other relay reads again.
    expect(budget.held).toBe(0);
    expect(other.client.calls.at(-1)).toEqual(['resume']);
    expect(app.calls.filter((c) => c[0] === 'resume')).toEqual([]);
  });

  it('passes messages whole, text as text, and counts payload bytes (UTF-8)', () => {
    const { client, app, r, records } = relay();
    const bytes = new Uint8Array([1, 2, 3]);
    r.client.message('héllo ✓');
    r.client.message(bytes);
    r.app.message('ok');
    expect(app.calls).toEqual([
      ['send', 'héllo ✓'],
      ['send', bytes],
    ]);
    expect(client.calls).toEqual([['send', 'ok']]);
    r.client.closed(1000, '');
    r.app.closed(1000, '');
    expect(records[0]).toMatchObject({ bytesIn: 10 + 3, bytesOut: 2 });
  });

  it('pauses the sender while the receiver is full, and resumes it when the receiver drains', () => {
    const { client, app, r } = relay(false, true);
    r.app.message('big');
    expect(app.calls).toEqual([['pause']]);
    r.client.drained();
    expect(app.calls).toEqual([['pause'], ['resume']]);
    expect(client.calls).toEqual([['send', 'big']]);
  });

  it.each([
    [4001, 'bye', ['close', 4001, 'bye']],
    [1000, '', ['close', 1000, '']],
    [1005, '', ['close', undefined, '']],
    [1006, '', ['terminate']],
    [1015, '', ['terminate']],
  ])('a close %i from the client reaches the app as %j', (code, reason, expected) => {
    const { app, r } = relay();
    r.client.closed(code, reason);
    expect(app.calls[0]).toEqual(expected);
  });

  it('cuts the other side if it has not finished closing within the grace, then writes the one record', () => {
    vi.useFakeTimers();
    const { app, r, records } = relay();
    r.client.closed(1006, '');
    expect(records).toEqual([]);
    vi.advanceTimersByTime(CLOSE_GRACE_MS);
    expect(app.calls.at(-1)).toEqual(['terminate']);
    r.app.closed(1006, '');
    expect(records).toHaveLength(1);
    expect(records[0]?.error).toBe('client_aborted');
  });

  it('at the drain deadline sends 1001 "going away" both ways', () => {
    const { client, app, r } = relay();
    r.goAway();
    expect(client.calls[0]).toEqual(['close', 1001, 'going away']);
    expect(app.calls[0]).toEqual(['close', 1001, 'going away']);
  });

  it('knows which close codes may be sent (RFC 6455 §7.4)', () => {
    expect([1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999].every(sendableCloseCode)).toBe(true);
    expect([999, 1004, 1005, 1006, 1015, 2000, 5000].some(sendableCloseCode)).toBe(false);
  });
});
