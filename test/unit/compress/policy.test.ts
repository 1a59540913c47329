import { describe, expect, it } from 'vitest';
import { hasNoTransform, mediaTypeOf, skipReason } from '../../../src/compress/policy.ts';
import type { CompressPolicy } from '../../../src/compress/policy.ts';

const policy: CompressPolicy = {
  types: new Set(['text/html', 'application/json', 'text/event-stream']),
  minBytes: 1024,
};

/** An eligible response: HTML of unknown length, streamed. */
function response(
  headers: Record<string, string> = {},
  status = 200,
  body: ReadableStream<Uint8Array> | Uint8Array | null = new ReadableStream<Uint8Array>(),
) {
  return { status, headers: new Headers({ 'content-type': 'text/html; charset=utf-8', ...headers }), body };
}

describe('which responses may be compressed', () => {
  it('a listed type of unknown length may', () => {
    expect(skipReason('GET', response(), policy)).toBeUndefined();
    expect(skipReason('POST', response({ 'content-type': 'Application/JSON' }, 201), policy)).toBeUndefined();
  });

  it('never the answer to HEAD', () => {
    expect(skipReason('HEAD', response({ 'content-length': '5000' }), policy)).toBe('head');
  });

  it.each([100, 101, 103, 204, 205, 304])('never a %i, which carries no content', (status) => {
    expect(skipReason('GET', response({}, status), policy)).toBe('bodiless-status');
  });

  it("never a WebSocket handshake's 101 (the tunnel takes handshakes before this step anyway)", () => {
    expect(skipReason('GET', response({ upgrade: 'websocket', connection: 'upgrade' }, 101), policy)).toBe(
      'bodiless-status',
    );
  });

  it('never a response without a body, or with an empty one', () => {
    expect(skipReason('GET', response({}, 200, null), policy)).toBe('no-body');
    expect(skipReason('GET', response({}, 200, new Uint8Array(0)), policy)).toBe('no-body');
  });

  it('never a 206 or anything with a Content-Range', () => {
    expect(skipReason('GET', response({ 'content-range': 'bytes 0-99/5000' }, 206), policy)).toBe('partial');
    expect(skipReason('GET', response({}, 206), policy)).toBe('partial');
    expect(skipReason('GET', response({ 'content-range': 'bytes */5000' }, 416), policy)).toBe('partial');
  });

  it('never a response the app encoded already', () => {
    expect(skipReason('GET', response({ 'content-encoding': 'gzip' }), policy)).toBe('encoded');
    expect(skipReason('GET', response({ 'content-encoding': 'br' }), policy)).toBe('encoded');
  });

  it('a response whose Content-Encoding is identity may', () => {
    expect(skipReason('GET', response({ 'content-encoding': ' Identity ' }), policy)).toBeUndefined();
  });

  it('never a response with Cache-Control: no-transform', () => {
    expect(skipReason('GET', response({ 'cache-control': 'public, No-Transform, max-age=60' }), policy)).toBe(
      'no-transform',
    );
  });

  it('never a response whose digest vouches for the bytes the app sent', () => {
    expect(
      skipReason(
        'GET',
        response({ 'content-digest': 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:' }),
        policy,
      ),
    ).toBe('digest');
    expect(
      skipReason('GET', response({ 'repr-digest': 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:' }), policy),
    ).toBe('digest');
  });

  it('never text/event-stream, even when COMPRESS_TYPES lists it', () => {
    expect(skipReason('GET', response({ 'content-type': 'text/event-stream; charset=utf-8' }), policy)).toBe(
      'event-stream',
    );
  });

  it('never a type not listed, or no type at all', () => {
    expect(skipReason('GET', response({ 'content-type': 'image/png' }), policy)).toBe('type');
    expect(skipReason('GET', response({ 'content-type': 'text/htmlx' }), policy)).toBe('type');
    const untyped = response();
    untyped.headers.delete('content-type');
    expect(skipReason('GET', untyped, policy)).toBe('type');
  });

  it('never a body shorter than COMPRESS_MIN_BYTES, by Content-Length or by its bytes', () => {
    expect(skipReason('GET', response({ 'content-length': '1023' }), policy)).toBe('too-small');
    expect(skipReason('GET', response({ 'content-length': '1024' }), policy)).toBeUndefined();
    expect(skipReason('GET', response({}, 200, new Uint8Array(1023)), policy)).toBe('too-small');
    expect(skipReason('GET', response({}, 200, new Uint8Array(1024)), policy)).toBeUndefined();
  });

  it('reads a repeated Content-Length of one value, and counts any other as unknown (compressed)', () => {
    expect(skipReason('GET', response({ 'content-length': '100, 100' }), policy)).toBe('too-small');
    expect(skipReason('GET', response({ 'content-length': '100, 5000' }), policy)).toBeUndefined();
  });

  it('compresses small bodies too when COMPRESS_MIN_BYTES is 0', () => {
    expect(skipReason('GET', response({ 'content-length': '1' }), { ...policy, minBytes: 0 })).toBeUndefined();
  });
});

describe('mediaTypeOf', () => {
  it('drops parameters and case', () => {
    expect(mediaTypeOf('Text/HTML ; charset=UTF-8')).toBe('text/html');
    expect(mediaTypeOf('application/json')).toBe('application/json');
    expect(mediaTypeOf(' ; charset=utf-8')).toBeUndefined();
    expect(mediaTypeOf(null)).toBeUndefined();
  });
});

describe('hasNoTransform', () => {
  it('finds the directive by name, not inside another directive or a quoted argument', () => {
    expect(hasNoTransform('no-transform')).toBe(true);
    expect(hasNoTransform('max-age=0,NO-TRANSFORM')).toBe(true);
    expect(hasNoTransform('private="set-cookie, no-transform", max-age=60')).toBe(false);
    expect(hasNoTransform('x-no-transform-please')).toBe(false);
    expect(hasNoTransform(null)).toBe(false);
  });
});
