/**
 * The app's side of a message relay (Bun and Deno): the handshake to the app with the `ws`
 * package, which sends the client's Host, exposes the app's 101 headers (its 'upgrade' event:
 * Set-Cookie and the subprotocol it chose) and a refusal's status, headers and body
 * ('unexpected-response'), none of which the runtimes' own WebSocket clients give. On Bun,
 * `import 'ws'` is Bun's built-in implementation of the same API; both events work there too
 * (the conformance suite checks).
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { WebSocket } from 'ws';
import type { Config } from '../../src/config.ts';
import { ClientAbortedError, UpstreamTimeoutError, classifyUpstreamFailure } from '../../src/errors.ts';
import { relayResponse } from '../../src/proxy/relay.ts';
import type { Handshake } from '../../src/websocket/upgrade.ts';
import type { Peer, PeerEvents } from '../../src/websocket/message-relay.ts';

/** Bytes queued for one peer before the other is paused. */
export const SEND_HIGH_WATER = 1024 * 1024;

/** Headers the WebSocket client writes itself for its own leg (RFC 6455 §4.1). */
const ownHandshakeHeaders = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

export interface AppSocket {
  socket: WebSocket;
  /** The subprotocol the app chose ('' for none). */
  protocol: string;
  /** The app's 101 headers. */
  headers: Headers;
  /** What the app sent before the client's side was open, in order (appPeer passes it on first). */
  early: { data: Buffer; binary: boolean }[];
  /** Stops collecting `early`. */
  stopCollecting(): void;
}

export interface AppSocketOptions {
  /** Answer the app's pings here (the client's side cannot send pings). */
  answerPings?: boolean;
  /**
   * Send the client's subprotocol offer as a plain header, so the app may choose none (the ws
   * package). Bun's built-in `ws` refuses a hand-set Sec-WebSocket-Protocol: there the offer goes
   * through its `protocols`, and an app that accepts without choosing one fails the handshake.
   */
  offerAsHeader?: boolean;
}

/**
 * Opens the app's leg: resolves with the open socket, or with the Response the client must get
 * instead (the app's own refusal, relayed as any response; or the sidecar's 502/504), the
 * handshake's record then already finished. Steps: connectToApp, then, as ws reports them,
 * readAppChoice (its 101's headers), holdEarlyMessages (open), or relayAppRefusal (not 101);
 * awaitAnswer bounds the wait.
 */
export function openAppSocket(
  config: Config,
  handshake: Handshake,
  signal: AbortSignal,
  options: AppSocketOptions = {},
): Promise<AppSocket | Response> {
  // The client's offer goes as a header, not as ws's `protocols`: ws would then refuse an app
  // that picks none (ws lib/websocket.js "Server sent no subprotocol"), which the client's own
  // WebSocket must be the one to decide. The app's choice is read from its 101 (readAppChoice).
  const asHeader = options.offerAsHeader === true && handshake.protocols.length > 0;
  const socket = connectToApp(handshake, asHeader, options, config.WS_MAX_MESSAGE_BYTES);
  return new Promise<AppSocket | Response>((resolve) => {
    const wait = awaitAnswer(socket, handshake, signal, config.UPSTREAM_TIMEOUT_MS, resolve);
    socket.on('error', wait.fail);
    const choice = readAppChoice(socket, asHeader);
    socket.on('open', () => {
      if (wait.settled) return void socket.terminate();
      wait.settle(holdEarlyMessages(socket, choice));
    });
    socket.on('unexpected-response', (_request: unknown, res: IncomingMessage) => {
      if (wait.settled) return void res.destroy();
      relayAppRefusal(res, handshake).then(wait.settle, wait.fail);
    });
  });
}

/** The handshake to the app: the client's headers but those ws writes for its own leg. */
function connectToApp(handshake: Handshake, asHeader: boolean, options: AppSocketOptions, maxPayload: number) {
  const headers: Record<string, string> = {};
  for (const [name, value] of handshake.headers) if (!ownHandshakeHeaders.has(name)) headers[name] = value;
  if (asHeader) headers['sec-websocket-protocol'] = handshake.protocols.join(', ');
  const socket = new WebSocket(handshake.url.replace(/^http/, 'ws'), asHeader ? [] : handshake.protocols, {
    headers,
    // Each leg negotiates its own extensions; the relay reads and writes whole messages.
    perMessageDeflate: false,
    // Beyond it ws closes the app's leg with 1009 and says so in 'error' (appPeer passes it on).
    maxPayload,
    // The app's pings go to the client, whose pongs come back: the sidecar answers none itself,
    // unless the client's side cannot send pings (Deno), where an unanswered ping could make
    // the app give the tunnel up.
    autoPong: options.answerPings ?? false,
    followRedirects: false,
  });
  socket.binaryType = 'nodebuffer';
  return socket;
}

/**
 * The wait for the app's answer: `settle` resolves it (a promise keeps its first value), `fail`
 * answers instead with the sidecar's own error (502, 504, 499), the record finished, unless it
 * has settled. Bounds the handshake only: once open, a tunnel is never cut by UPSTREAM_TIMEOUT_MS.
 */
function awaitAnswer(
  socket: WebSocket,
  handshake: Handshake,
  signal: AbortSignal,
  timeoutMs: number,
  resolve: (value: AppSocket | Response) => void,
): { readonly settled: boolean; settle(value: AppSocket | Response): void; fail(error: unknown): void } {
  let settled = false;
  const settle = (value: AppSocket | Response) => {
    settled = true;
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    resolve(value);
  };
  const fail = (error: unknown) => {
    if (settled) return;
    socket.terminate();
    const failure = classifyUpstreamFailure(error);
    settle(handshake.refuse(failure));
  };
  const timer = setTimeout(() => fail(new UpstreamTimeoutError(timeoutMs)), timeoutMs);
  const onAbort = () => fail(new ClientAbortedError());
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    get settled() {
      return settled;
    },
    settle,
    fail,
  };
}

/** The app's 101, as ws's 'upgrade' event shows it: its headers, and the subprotocol it chose ('' for none). */
type AppChoice = { headers: Headers | undefined; protocol: string };
function readAppChoice(socket: WebSocket, asHeader: boolean): AppChoice {
  const choice: AppChoice = { headers: undefined, protocol: '' };
  socket.on('upgrade', (res: IncomingMessage) => {
    choice.headers = headersOf(res.rawHeaders);
    choice.protocol = choice.headers.get('sec-websocket-protocol') ?? '';
    // ws checks the choice against its own (empty) offer after this event: hide it.
    if (asHeader) delete res.headers['sec-websocket-protocol'];
  });
  return choice;
}

/**
 * Open. An app may speak first: Socket.IO's open packet, say, often in the same segment as its
 * 101, which ws parses as soon as the socket is open, before the client's side is. Those
 * messages wait here, in order, and nothing more is read until the relay starts.
 */
function holdEarlyMessages(socket: WebSocket, choice: AppChoice): AppSocket {
  const early: AppSocket['early'] = [];
  const collect = (data: Buffer, binary: boolean) => early.push({ data, binary });
  socket.on('message', collect);
  socket.pause();
  return {
    socket,
    protocol: choice.protocol,
    headers: choice.headers ?? new Headers(),
    early,
    stopCollecting: () => socket.off('message', collect),
  };
}

/** Anything but 101: the app's answer relayed as any response (src/proxy/relay.ts), its record finished. */
function relayAppRefusal(res: IncomingMessage, handshake: Handshake): Promise<Response> {
  const body = Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
  let bytes = 0;
  return relayResponse(
    {
      status: res.statusCode ?? 502,
      statusText: res.statusMessage ?? '',
      headers: headersOf(res.rawHeaders),
      body,
    },
    handshake.requestId,
    {
      bytes: (n) => (bytes += n),
      end: (status, error) => handshake.answered(status, error, bytes),
    },
  );
}

function headersOf(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return headers;
}

/** The app's socket as a relay Peer, its events fed to `events` once the client's side is open. */
export function appPeer(opened: AppSocket): { peer: Peer; listen(events: PeerEvents): void } {
  const { socket } = opened;
  let full = false;
  let events: PeerEvents | undefined;
  const afterWrite = () => {
    if (full && socket.bufferedAmount < SEND_HIGH_WATER) {
      full = false;
      events?.drained();
    }
  };
  // Until the client's side is open, nothing is read from the app (its messages wait in the kernel).
  socket.pause();
  const peer: Peer = {
    send(data, written) {
      // ws calls back once the frame is written to the socket, or with an error if it never will be.
      socket.send(data, { binary: typeof data !== 'string' }, () => (written(), afterWrite()));
      full = socket.bufferedAmount >= SEND_HIGH_WATER;
      return !full;
    },
    ping: (data) => socket.ping(data),
    pong: (data) => socket.pong(data),
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
  return {
    peer,
    listen(e) {
      events = e;
      opened.stopCollecting();
      for (const { data, binary } of opened.early.splice(0)) e.message(binary ? data : data.toString());
      socket.on('message', (data: Buffer, binary: boolean) => e.message(binary ? data : data.toString()));
      socket.on('ping', (data: Buffer) => e.ping(data));
      socket.on('pong', (data: Buffer) => e.pong(data));
      socket.on('error', (error: Error & { code?: string }) => {
        if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') e.tooBig();
      });
      socket.on('close', (code: number, reason: Buffer) => e.closed(code, reason.toString()));
      // The app's connection may have failed while the client's side was opening.
      if (socket.readyState === socket.CLOSED) e.closed(1006, '');
      socket.resume();
    },
  };
}
