/**
 * The conformance suite's WebSocket clients: the `ws` package (what a Node app or a test of one
 * would use), with everything it sees recorded so a test waits for events instead of sleeping;
 * and a raw-socket client for the frame-level tests (hand-built frames, half-close).
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { WebSocket } from 'ws';
import { waitUntil } from './wait.ts';

export interface ClientOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  perMessageDeflate?: boolean;
  /** Count received bytes only, keep no messages (large transfers). */
  countOnly?: boolean;
  /** For wss://: the CA the sidecar's certificate must verify against. */
  ca?: string;
}

export class WsClient {
  readonly ws: WebSocket;
  readonly events = new EventEmitter();
  /** The sidecar's 101. */
  upgrade: IncomingMessage | undefined;
  messages: { data: Buffer; binary: boolean }[] = [];
  bytesReceived = 0;
  /** sendFlood(): bytes handed to ws, and whether it waits for the socket to take them. */
  bytesSent = 0;
  waitingForDrain = false;
  pings: Buffer[] = [];
  pongs: Buffer[] = [];
  close: { code: number; reason: string } | undefined;
  error: Error | undefined;
  /** The answer when the handshake was not accepted. */
  refusal: { status: number; rawHeaders: string[]; body: Buffer } | undefined;
  opened = false;

  constructor(url: string, options: ClientOptions = {}) {
    this.events.setMaxListeners(0);
    const changed = () => this.events.emit('change');
    this.ws = new WebSocket(url, options.protocols ?? [], {
      headers: options.headers,
      ...(options.ca !== undefined && { ca: options.ca }),
      perMessageDeflate: options.perMessageDeflate ?? false,
      maxPayload: 64 * 1024 * 1024,
      autoPong: true,
    });
    this.ws.on('upgrade', (res) => ((this.upgrade = res), changed()));
    this.ws.on('open', () => ((this.opened = true), changed()));
    this.ws.on('message', (data: Buffer, binary: boolean) => {
      this.bytesReceived += data.length;
      if (!options.countOnly) this.messages.push({ data, binary });
      changed();
    });
    this.ws.on('ping', (data: Buffer) => (this.pings.push(data), changed()));
    this.ws.on('pong', (data: Buffer) => (this.pongs.push(data), changed()));
    this.ws.on(
      'close',
      (code: number, reason: Buffer) => ((this.close = { code, reason: reason.toString() }), changed()),
    );
    this.ws.on('error', (error) => ((this.error = error), changed()));
    this.ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        this.refusal = { status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) };
        changed();
        this.ws.terminate();
      });
    });
  }

  waitFor<T>(check: () => T | undefined, what: string, timeoutMs?: number): Promise<T> {
    return waitUntil(this.events, check, `client: ${what}`, timeoutMs, () =>
      JSON.stringify({
        opened: this.opened,
        close: this.close,
        error: this.error?.message,
        refusal: this.refusal?.status,
        messages: this.messages.length,
      }),
    );
  }

  /** Resolves once open; rejects with what happened instead. */
  async opening(): Promise<this> {
    await this.waitFor(
      () => (this.opened || this.error || this.refusal || this.close ? true : undefined),
      'the handshake to finish',
    );
    if (!this.opened)
      throw new Error(
        `no tunnel: ${this.refusal ? `status ${this.refusal.status}: ${this.refusal.body.toString()}` : (this.error?.message ?? JSON.stringify(this.close))}`,
      );
    return this;
  }

  /** Resolves with the answer of a refused handshake. */
  async refused(): Promise<NonNullable<WsClient['refusal']>> {
    return this.waitFor(() => this.refusal ?? (this.opened ? null : undefined), 'a refusal').then((r) => {
      if (r === null) throw new Error('the handshake was accepted');
      return r;
    });
  }

  /** The n-th message received (0-based), once it is there. */
  message(n: number): Promise<{ data: Buffer; binary: boolean }> {
    return this.waitFor(() => this.messages[n], `message #${n}`, 30_000);
  }

  /** Sends `total` bytes in 64 KiB binary messages, never more than 1 MiB queued in ws. */
  async sendFlood(total: number): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, 'flood ');
    while (this.bytesSent < total && this.ws.readyState === this.ws.OPEN) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - this.bytesSent));
      const written = new Promise<void>((resolve) => this.ws.send(piece, { binary: true }, () => resolve()));
      this.bytesSent += piece.length;
      if (this.ws.bufferedAmount > 1024 * 1024) {
        this.waitingForDrain = true;
        this.events.emit('change');
        await written;
        this.waitingForDrain = false;
      }
    }
    this.events.emit('change');
  }

  closed(timeoutMs?: number): Promise<{ code: number; reason: string }> {
    return this.waitFor(() => this.close, 'the tunnel to close', timeoutMs);
  }
}

export function connectWs(url: string, options?: ClientOptions): Promise<WsClient> {
  return new WsClient(url, options).opening();
}

/** One WebSocket frame, masked as a client must (RFC 6455 §5.2), with any opcode, FIN and RSV1. */
export function clientFrame(
  payload: Buffer,
  options: { opcode: number; fin?: boolean; rsv1?: boolean; mask?: Buffer },
): Buffer {
  const mask = options.mask ?? Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const first = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | options.opcode;
  let length: Buffer;
  if (payload.length < 126) length = Buffer.from([0x80 | payload.length]);
  else if (payload.length < 65536) {
    length = Buffer.alloc(3);
    length[0] = 0x80 | 126;
    length.writeUInt16BE(payload.length, 1);
  } else {
    length = Buffer.alloc(9);
    length[0] = 0x80 | 127;
    length.writeBigUInt64BE(BigInt(payload.length), 1);
  }
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([first]), length, mask, masked]);
}

/** Unmasked frames as received: opcode, FIN, RSV1 and payload of each whole frame at the start of `bytes`. */
export function parseFrames(bytes: Buffer): { fin: boolean; rsv1: boolean; opcode: number; payload: Buffer }[] {
  const frames: { fin: boolean; rsv1: boolean; opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at] as number;
    const b1 = bytes[at + 1] as number;
    let length = b1 & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (offset + 2 > bytes.length) break;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (offset + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(offset));
      offset += 8;
    }
    const mask = b1 & 0x80 ? bytes.subarray(offset, offset + 4) : undefined;
    if (mask) offset += 4;
    if (offset + length > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(offset, offset + length));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, payload });
    at = offset + length;
  }
  return frames;
}

/** A raw TCP client that performs the opening handshake itself, then exchanges bytes. */
export class RawWsClient {
  readonly socket: net.Socket;
  readonly events = new EventEmitter();
  received = Buffer.alloc(0);
  ended = false;
  closed = false;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.events.emit('change');
    });
    socket.on('end', () => ((this.ended = true), this.events.emit('change')));
    socket.on('close', () => ((this.closed = true), this.events.emit('change')));
    socket.on('error', () => {});
  }

  /** `early`: bytes written in the same write as the handshake, before any answer. */
  static async open(
    host: string,
    port: number,
    path: string,
    headers: string[],
    early: Buffer = Buffer.alloc(0),
  ): Promise<{ client: RawWsClient; head: string }> {
    const socket = net.connect(port, host);
    const client = new RawWsClient(socket);
    const request = `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
    socket.write(Buffer.concat([Buffer.from(request, 'latin1'), early]));
    const end = await client.waitFor(() => {
      const i = client.received.indexOf('\r\n\r\n');
      return i === -1 ? undefined : i;
    }, 'the 101 head');
    const head = client.received.subarray(0, end).toString('latin1');
    client.received = client.received.subarray(end + 4);
    return { client, head };
  }

  waitFor<T>(check: () => T | undefined, what: string, timeoutMs?: number): Promise<T> {
    return waitUntil(
      this.events,
      check,
      `raw client: ${what}`,
      timeoutMs,
      () => `received ${this.received.length} bytes, ended ${this.ended}`,
    );
  }
}
