import { describe, expect, it } from 'vitest';
import { createLineWriter, formatJson, formatText, isoTime } from '../../src/logger.ts';
import type { AccessRecord } from '../../src/exchange.ts';

const record = (over: Partial<AccessRecord> = {}): AccessRecord => ({
  startedAt: Date.UTC(2026, 10, 25, 12, 0, 0),
  service: 'legacy',
  target: 'http://localhost:8080',
  method: 'GET',
  path: '/a?b=1',
  status: 200,
  durationMs: 12.3456,
  bytesIn: 0,
  bytesOut: 10,
  requestId: 'r1',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  remoteAddr: '127.0.0.1',
  userAgent: 'curl/8',
  error: undefined,
  ...over,
});

describe('formats', () => {
  it('writes every JSON field docs/behaviour.md#logging names, and error only when the sidecar answered itself', () => {
    const line = formatJson(record());
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({
      time: '2026-11-25T12:00:00.000Z',
      service: 'legacy',
      target: 'http://localhost:8080',
      method: 'GET',
      path: '/a?b=1',
      status: 200,
      duration_ms: 12.346,
      bytes_in: 0,
      bytes_out: 10,
      request_id: 'r1',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      remote_addr: '127.0.0.1',
      user_agent: 'curl/8',
    });
    expect(JSON.parse(formatJson(record({ status: 502, error: 'upstream_refused' }))).error).toBe('upstream_refused');
  });

  it('writes the seed text format followed by the outcome', () => {
    expect(formatText(record())).toBe(
      `legacy - http://localhost:8080 - /a?b=1 - ${Date.UTC(2026, 10, 25, 12)} - GET 200 12ms\n`,
    );
  });

  it('writes queue_ms, in both formats, only when a concurrency limit is set (the record carries a wait)', () => {
    expect(JSON.parse(formatJson(record({ queueMs: 250.12345, status: 503, error: 'overloaded' })))).toMatchObject({
      queue_ms: 250.123,
      error: 'overloaded',
    });
    expect(formatJson(record())).not.toContain('queue_ms');
    expect(formatText(record({ queueMs: 250.6, status: 503, error: 'overloaded' }))).toBe(
      `legacy - http://localhost:8080 - /a?b=1 - ${Date.UTC(2026, 10, 25, 12)} - GET 503 12ms queue_ms=251 error=overloaded\n`,
    );
  });

  it("marks a WebSocket tunnel's line with upgrade, in both formats, and no other line", () => {
    const tunnel = record({ status: 101, upgrade: 'websocket' });
    expect(JSON.parse(formatJson(tunnel))).toMatchObject({ status: 101, upgrade: 'websocket' });
    expect(formatText(tunnel)).toMatch(/ GET 101 \d+ms upgrade=websocket\n$/);
    expect(JSON.parse(formatJson(record()))).not.toHaveProperty('upgrade');
    expect(formatText(record())).not.toContain('upgrade');
  });

  it('never lets a client value break a line or forge another one', () => {
    const hostile = record({
      path: '/x\n{"status":200}\r\u2028"',
      userAgent: 'ua\n{"forged":true}',
      requestId: 'id"\n',
    });
    const json = formatJson(hostile);
    expect(json.indexOf('\n')).toBe(json.length - 1);
    expect(json).not.toContain('\r');
    expect(JSON.parse(json).path).toBe('/x\n{"status":200}\r\u2028"');
    const text = formatText(hostile);
    expect(text.indexOf('\n')).toBe(text.length - 1);
    expect(text).toContain('/x\\x0a{"status":200}\\x0d\\u{2028}"');
  });
});

describe('line writer', () => {
  it('batches lines written in one turn into one sink call, in order', async () => {
    const calls: string[] = [];
    const writer = createLineWriter((chunk) => void calls.push(chunk));
    writer.write('a\n');
    writer.write('b\n');
    await writer.flush();
    writer.write('c\n');
    await writer.flush();
    expect(calls).toEqual(['a\nb\n', 'c\n']);
  });

  it('keeps at most one write in flight and drops, counted, what a stalled sink cannot take', async () => {
    let release: () => void = () => {};
    let inFlight = 0;
    let maxInFlight = 0;
    const chunks: string[] = [];
    const writer = createLineWriter(
      (chunk) => {
        chunks.push(chunk);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise<void>((resolve) => (release = () => (inFlight--, resolve())));
      },
      { maxPendingBytes: 10 },
    );
    writer.write('first\n');
    await Promise.resolve();
    // The sink is stalled on "first": the next 10 bytes queue, the rest are dropped.
    for (let i = 0; i < 5; i++) writer.write('1234\n');
    expect(writer.dropped).toBe(3);
    release();
    await new Promise((r) => setImmediate(r));
    release();
    await writer.flush();
    expect(chunks).toEqual(['first\n', '1234\n1234\n']);
    expect(maxInFlight).toBe(1);
  });
});

describe('formatJson', () => {
  it('writes exactly what JSON.stringify of the same fields would, for hostile and missing values', () => {
    const hostile = record({
      path: '/\u0000\u001f"\\\u2028',
      userAgent: null,
      remoteAddr: undefined,
      method: 'G"ET',
      error: 'client_aborted',
    });
    const parsed = JSON.parse(formatJson(hostile));
    expect(parsed).toMatchObject({
      path: '/\u0000\u001f"\\\u2028',
      user_agent: null,
      remote_addr: null,
      method: 'G"ET',
      error: 'client_aborted',
    });
    expect(formatJson(hostile)).toBe(
      JSON.stringify({
        time: new Date(hostile.startedAt).toISOString(),
        service: hostile.service,
        target: hostile.target,
        method: hostile.method,
        path: hostile.path,
        status: hostile.status,
        duration_ms: 12.346,
        bytes_in: 0,
        bytes_out: 10,
        request_id: 'r1',
        trace_id: hostile.traceId,
        span_id: hostile.spanId,
        remote_addr: null,
        user_agent: null,
        error: 'client_aborted',
      }) + '\n',
    );
  });
});

describe('line writer with a delay', () => {
  it('holds lines for one shared write, and flush() writes them at once', async () => {
    const calls: string[] = [];
    const writer = createLineWriter((chunk) => void calls.push(chunk), { delayMs: 60_000 });
    writer.write('a\n');
    await Promise.resolve();
    writer.write('b\n');
    expect(calls).toEqual([]);
    await writer.flush();
    expect(calls).toEqual(['a\nb\n']);
  });

  it('writes early once 64 KiB are waiting', async () => {
    const calls: string[] = [];
    const writer = createLineWriter((chunk) => void calls.push(chunk), { delayMs: 60_000 });
    const line = 'x'.repeat(1023) + '\n';
    for (let i = 0; i < 64; i++) writer.write(line);
    await Promise.resolve();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.length).toBe(64 * 1024);
  });
});

describe('isoTime', () => {
  it('is Date#toISOString for any epoch millisecond, within a second and across seconds', () => {
    const times = [0, 5, 50, 999, 1000, 1_764_770_400_123, 1_764_770_400_999.7, -1, -1001, 253_402_300_799_999];
    for (let i = 0; i < 2000; i++) times.push(1_764_770_400_000 + Math.floor(Math.random() * 5000));
    for (const ms of times) expect(isoTime(ms), String(ms)).toBe(new Date(Math.floor(ms)).toISOString());
  });
});
