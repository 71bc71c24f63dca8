/** ByteLink over a TCP socket, with Nagle off (a request is one small write that must leave now). */
import net from 'node:net';
import type { ByteLink, LinkHandlers } from './byte-link.js';

export interface TcpLinkOptions {
  host: string;
  port: number;
  /** Give up on a connect attempt after this long (an unreachable host would otherwise hang for minutes). */
  connectTimeoutMs: number;
}

/**
 * One receive buffer for every connection: a read lands in it and is copied out in the same
 * callback, before any other socket is read, so connections never see each other's bytes.
 * A Modbus TCP ADU is at most 260 bytes; a longer burst is simply read in several chunks.
 */
const receiveBuffer = Buffer.alloc(1024);

export function tcpLink(opts: TcpLinkOptions): ByteLink {
  let socket: net.Socket | undefined;
  let closing = false;
  let lostReported = false;
  return {
    target: `tcp://${opts.host}:${opts.port}`,
    open(handlers: LinkHandlers) {
      return new Promise<void>((resolve, reject) => {
        // Received bytes land in one small buffer (`onread`) instead of going through the
        // readable stream: no 64 KiB allocation, 'data' event and nextTick per reply. Each chunk
        // handed on is its own copy (from the shared pool), as a 'data' chunk would be.
        const rx = receiveBuffer;
        const s = net.connect({
          host: opts.host,
          port: opts.port,
          noDelay: true,
          onread: {
            buffer: rx,
            callback: (nread: number): boolean => {
              const chunk = Buffer.allocUnsafe(nread);
              // A byte loop for the usual short reply: Buffer#copy of part of a buffer makes a view first.
              if (nread <= 64) for (let i = 0; i < nread; i++) chunk[i] = rx[i]!;
              else rx.copy(chunk, 0, 0, nread);
              handlers.data(chunk);
              return true; // keep reading
            },
          },
        });
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
          // Flowing mode, with no data listener (bytes go to `onread`): so that the end of the
          // stream is noticed and 'close' follows when the peer goes away.
          s.resume();
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
