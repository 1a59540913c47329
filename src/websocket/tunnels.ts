/**
 * The registry of WebSocket handshakes in flight and open tunnels: where handshakes begin
 * (upgrade.ts), and what drain() waits on and closes at its deadline.
 */
import { Handshake } from './upgrade.ts';
import type { HandshakeRequest, TunnelDeps } from './upgrade.ts';
import type { Tunnel } from './tunnel.ts';

/** The open tunnels and handshakes in flight, for drain(); and where handshakes begin. */
export class Tunnels {
  readonly #deps: TunnelDeps;
  readonly #open = new Set<Tunnel>();
  #handshakes = 0;
  #idle: (() => void)[] = [];

  constructor(deps: TunnelDeps) {
    this.#deps = deps;
  }

  begin(request: HandshakeRequest): Handshake {
    this.#handshakes++;
    return new Handshake(this.#deps, request, {
      opened: (tunnel) => this.#open.add(tunnel),
      ended: (tunnel) => {
        if (tunnel === undefined) this.#handshakes--;
        else this.#open.delete(tunnel);
        if (this.#handshakes === 0 && this.#open.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      },
    });
  }

  /** Open tunnels now. */
  get open(): number {
    return this.#open.size;
  }

  /** Resolves once no tunnel is open and no handshake is in flight. */
  idle(): Promise<void> {
    if (this.#handshakes === 0 && this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** The drain deadline: every open tunnel is closed (raw: sockets ended; relay: close 1001 both ways). */
  closeAll(): void {
    for (const tunnel of [...this.#open]) tunnel.close();
  }
}
