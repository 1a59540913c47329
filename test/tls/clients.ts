/**
 * Real TLS clients for the TLS tier: node:tls handshakes with chosen versions and suites,
 * node:https requests (one connection each, or a kept-alive one), node:http2 requests.
 */
import { once } from 'node:events';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import type { TLSSocket } from 'node:tls';

export interface Handshake {
  protocol: string | null;
  cipher: string;
  alpn: string | false | null;
  serial: string;
}

/**
 * A handshake with 127.0.0.1:port as `localhost`, verified against `ca`. `SECLEVEL=0` lets this
 * client offer what OpenSSL 3 would refuse to offer by itself (TLS 1.0, RSA key exchange), so a
 * refusal is the server's.
 */
export async function handshake(port: number, ca: string, options: tls.ConnectionOptions = {}): Promise<Handshake> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...options });
  try {
    await Promise.race([
      once(socket, 'secureConnect'),
      once(socket, 'error').then(([error]) => Promise.reject(error as Error)),
    ]);
    return {
      protocol: socket.getProtocol(),
      cipher: socket.getCipher().standardName,
      alpn: socket.alpnProtocol,
      serial: socket.getPeerCertificate().serialNumber,
    };
  } finally {
    socket.destroy();
  }
}

/** The handshake's failure (its error code), or undefined when it succeeded. */
export async function refusal(port: number, ca: string, options: tls.ConnectionOptions): Promise<string | undefined> {
  return handshake(port, ca, options).then(
    () => undefined,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
}

export const oldProtocol = (version: 'TLSv1' | 'TLSv1.1'): tls.ConnectionOptions => ({
  minVersion: version,
  maxVersion: version,
  ciphers: 'DEFAULT@SECLEVEL=0',
});
export const tls12Suite = (cipher: string): tls.ConnectionOptions => ({
  maxVersion: 'TLSv1.2',
  ciphers: `${cipher}@SECLEVEL=0`,
});

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  serial: string;
  reusedSocket: boolean;
}

/** One HTTPS request; with an agent, on its kept-alive connection. */
export function httpsRequest(
  port: number,
  path: string,
  options: { ca: string; agent?: https.Agent; method?: string; headers?: Record<string, string>; body?: string },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        path,
        method: options.method ?? 'GET',
        headers: { host: `localhost:${port}`, ...options.headers },
        ca: options.ca,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        // Read now: a kept-alive socket goes back to the agent (res.socket null) once the body ends.
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
            serial,
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path} within 10 s`)));
    req.end(options.body);
  });
}

export interface H2Result {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  alpn: string | undefined;
}

/** One HTTP/2 request (node:http2 as client) with the given pseudo-headers and headers. */
export async function h2Request(
  port: number,
  ca: string,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<H2Result> {
  const session = http2.connect(`https://localhost:${port}`, {
    ca,
    host: '127.0.0.1',
  } as http2.SecureClientSessionOptions);
  try {
    await Promise.race([
      once(session, 'connect'),
      once(session, 'error').then(([error]) => Promise.reject(error as Error)),
    ]);
    const stream = session.request(headers, { endStream: body === undefined });
    if (body !== undefined) stream.end(body);
    const [response] = (await Promise.race([
      once(stream, 'response'),
      once(stream, 'error').then(([error]) => Promise.reject(error as Error)),
    ])) as [http2.IncomingHttpHeaders];
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(stream, 'end');
    return {
      status: Number(response[':status']),
      headers: response,
      body: Buffer.concat(chunks).toString(),
      alpn: session.alpnProtocol,
    };
  } finally {
    session.close();
  }
}

/** Writes bytes over a verified TLS connection and returns everything read until the server closes it. */
export async function tlsExchange(port: number, ca: string, data: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['http/1.1'] });
  await Promise.race([
    once(socket, 'secureConnect'),
    once(socket, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.write(data);
  const timer = setTimeout(() => socket.destroy(), 10_000);
  await Promise.race([once(socket, 'close'), once(socket, 'end')]);
  clearTimeout(timer);
  socket.destroy();
  return text;
}

/** A request whose response has begun (its first chunk) and whose end waits for upstream.release(id). */
export function openSlow(port: number, ca: string, id: string): Promise<{ serial: string; body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        path: `/_/slow?id=${id}`,
        ca,
        agent: false,
        headers: { host: `localhost:${port}` },
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        let text = '';
        const body = new Promise<string>((done, fail) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => done(text));
          res.on('error', fail);
          res.on('aborted', () => fail(new Error('response aborted')));
        });
        body.catch(() => {});
        resolve({ serial, body });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
