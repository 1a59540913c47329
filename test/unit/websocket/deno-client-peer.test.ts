/**
 * The client's leg of Deno's relay (runtimes/deno/client-peer.ts): Deno's WebSocket says nothing
 * when its buffer drains, so the peer reads bufferedAmount to tell the relay which messages have
 * been written through (the budget) and when the app may send again (backpressure).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DRAIN_POLL_MS, clientPeer } from '../../../runtimes/deno/client-peer.ts';
import { SEND_HIGH_WATER } from '../../../runtimes/common/ws-upstream.ts';

/** A WebSocket whose buffer the test empties by hand. */
function fakeSocket() {
  return {
    bufferedAmount: 0,
    sent: [] as unknown[],
    send(data: unknown) {
      this.sent.push(data);
      this.bufferedAmount +=
        typeof data === 'string' ? new TextEncoder().encode(data).length : (data as Uint8Array).byteLength;
    },
    close: vi.fn(),
  };
}

describe("Deno's client leg", () => {
  afterEach(() => vi.useRealTimers());

  it('reports each message written, oldest first, as the buffer empties', () => {
    vi.useFakeTimers();
    const socket = fakeSocket();
    const written: string[] = [];
    const peer = clientPeer(socket, () => undefined);
    expect(peer.send(new Uint8Array(100), () => written.push('first'))).toBe(true);
    expect(peer.send('héllo', () => written.push('second'))).toBe(true);
    vi.advanceTimersByTime(DRAIN_POLL_MS);
    expect(written).toEqual([]);
    socket.bufferedAmount = 6; // the first message and nothing of the second is gone
    vi.advanceTimersByTime(DRAIN_POLL_MS);
    expect(written).toEqual(['first']);
    socket.bufferedAmount = 0;
    vi.advanceTimersByTime(DRAIN_POLL_MS);
    expect(written).toEqual(['first', 'second']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('says full above the mark, and drained once the buffer is back under it', () => {
    vi.useFakeTimers();
    const socket = fakeSocket();
    const drained = vi.fn();
    const peer = clientPeer(socket, drained);
    expect(peer.send(new Uint8Array(SEND_HIGH_WATER), () => undefined)).toBe(false);
    vi.advanceTimersByTime(DRAIN_POLL_MS * 3);
    expect(drained).not.toHaveBeenCalled();
    socket.bufferedAmount = SEND_HIGH_WATER - 1;
    vi.advanceTimersByTime(DRAIN_POLL_MS);
    expect(drained).toHaveBeenCalledOnce();
  });

  it('stops looking once its socket has closed', () => {
    vi.useFakeTimers();
    const socket = fakeSocket();
    const peer = clientPeer(socket, () => undefined);
    peer.send(new Uint8Array(10), () => undefined);
    expect(vi.getTimerCount()).toBe(1);
    peer.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
