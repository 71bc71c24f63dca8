/**
 * RTU-over-TCP: the fallback line when socat is missing. A TCP server on 127.0.0.1 carries the
 * raw RTU byte stream (same framing, CRC and wire timing), like a serial device server would.
 * Each client's bytes go to the shared bus; a reply goes back to the client that asked.
 * "Unplugging" closes the server and every connection, then listens again on the same port.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../gateway/src/log.js';
import { monoNow } from './clock.js';

export type TcpLineHandler = (chunk: Buffer, at: number, reply: (frame: Buffer) => boolean, socket: Socket) => void;

export class TcpLine {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private replugTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  port = 0;

  constructor(
    readonly id: string,
    private readonly onData: TcpLineHandler,
    private readonly log: Logger,
    private readonly onDown: () => void = () => {},
    readonly host = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<void> {
    this.stopped = false;
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ bus: this.id, err: String(err) }, 'rtu-over-tcp server error'));
    this.server = server;
    const addr = server.address();
    if (addr && typeof addr === 'object') this.port = addr.port;
  }

  /** Close the listener and every connection for `ms`, then listen again on the same port. */
  async unplug(ms: number): Promise<{ downAt: number }> {
    if (this.replugTimer) clearTimeout(this.replugTimer);
    await this.close();
    const downAt = monoNow();
    this.replugTimer = setTimeout(() => {
      this.replugTimer = undefined;
      if (this.stopped) return;
      this.start(this.port).catch((err: unknown) => this.log.error({ bus: this.id, err: String(err) }, 'replug failed'));
    }, ms);
    return { downAt };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.replugTimer) clearTimeout(this.replugTimer);
    await this.close();
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const reply = (frame: Buffer): boolean => {
      if (socket.destroyed) return false;
      socket.write(frame);
      return true;
    };
    socket.on('data', (chunk: Buffer) => this.onData(chunk, monoNow(), reply, socket));
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.onDown();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
