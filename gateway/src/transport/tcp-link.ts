/** ByteLink over a TCP socket, with Nagle off (a request is one small write that must leave now). */
import net from 'node:net';
import type { ByteLink, LinkHandlers } from './byte-link.js';

export interface TcpLinkOptions {
  host: string;
  port: number;
  /** Give up on a connect attempt after this long (an unreachable host would otherwise hang for minutes). */
  connectTimeoutMs: number;
}

export function tcpLink(opts: TcpLinkOptions): ByteLink {
  let socket: net.Socket | undefined;
  let closing = false;
  let lostReported = false;
  return {
    target: `tcp://${opts.host}:${opts.port}`,
    open(handlers: LinkHandlers) {
      return new Promise<void>((resolve, reject) => {
        const s = net.connect({ host: opts.host, port: opts.port, noDelay: true });
        socket = s;
        let connected = false;
        const timer = setTimeout(() => s.destroy(new Error(`connect timeout after ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
        const lost = (reason: string): void => {
          if (closing || lostReported) return;
          lostReported = true;
          handlers.lost(reason);
        };
        let lastError: Error | undefined;
        s.on('error', (err) => {
          lastError = err;
          if (!connected) {
            clearTimeout(timer);
            reject(err);
          }
        });
        s.once('connect', () => {
          connected = true;
          clearTimeout(timer);
          s.setNoDelay(true);
          // Keepalive finds a DTU that lost power without closing the connection.
          s.setKeepAlive(true, 5000);
          s.on('data', handlers.data);
          s.on('close', () => lost(lastError ? lastError.message : 'peer closed the connection'));
          resolve();
        });
      });
    },
    write(frame: Buffer) {
      socket?.write(frame);
    },
    close() {
      closing = true;
      const s = socket;
      socket = undefined;
      if (!s || s.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.destroy();
      });
    },
  };
}
