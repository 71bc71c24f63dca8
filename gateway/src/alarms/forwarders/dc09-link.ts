/**
 * The socket half of the DC-09 transmitter: one TCP connection (connected lazily, re-opened
 * after close or error) or one connected UDP socket to the receiver, and a request/answer
 * exchange on top of it. It knows nothing about alarms: the caller builds the frame and says
 * which answer it is waiting for (`accept`); every other frame that arrives is logged and dropped.
 *
 * One exchange at a time per link. DC-09 answers carry the sequence number, but a NAK carries
 * 0000 and no account, so it can only be matched to "the frame in flight"; running a heartbeat
 * and an alarm at once on the same link would make that ambiguous. `exclusive()` is the lock;
 * callers hold it around a whole send (including its NAK resends).
 *
 * Nothing here throws for network trouble: every failure is an `ExchangeResult` with a reason.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import net from 'node:net';
import { Dc09StreamSplitter } from '../dc09/index.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';

export type Dc09LinkTransport = 'tcp' | 'udp';

/** How long a frame waits after the previous answer on the same TCP connection (see settle()). */
export const TCP_SETTLE_MS = 20;

export interface Dc09LinkOptions {
  transport: Dc09LinkTransport;
  host: string;
  port: number;
  log: Logger;
}

export type ExchangeFailure = 'timeout' | 'closed' | 'error' | 'aborted';

export type ExchangeResult<T> = { ok: true; value: T } | { ok: false; failure: ExchangeFailure; message: string };

/** What `accept` returns for a frame that is not the answer we wait for. */
export const IGNORE = Symbol('ignore');

interface Waiter {
  onFrame(frame: Buffer): void;
  fail(failure: ExchangeFailure, message: string): void;
}

export class Dc09Link {
  private tcp: net.Socket | undefined;
  private udp: UdpSocket | undefined;
  /** Sends waiting for the UDP socket's connect(); undefined once it is connected. */
  private udpConnecting: Array<() => void> | undefined;
  private waiter: Waiter | undefined;
  private lock: Promise<void> = Promise.resolve();
  private closed = false;
  /** When the last accepted answer arrived on the current TCP connection. */
  private lastAnswerAt: number | undefined;
  /**
   * Learned: this receiver hangs up right after its answers. Only then does a following frame
   * wait for the FIN (settle()); a receiver that keeps the connection gets frames back to back
   * (waiting 20 ms for nothing would cap a burst at ~45 alarms/s).
   */
  private peerHangsUp = false;

  constructor(private readonly opts: Dc09LinkOptions) {}

  get target(): string {
    return `${this.opts.transport}://${this.opts.host}:${this.opts.port}`;
  }

  /**
   * Runs `fn` with the link to itself. Resolves `undefined` without running `fn` if `signal`
   * aborts while waiting for the link.
   */
  async exclusive<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T | undefined> {
    const previous = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    try {
      const got = await raceAbort(previous, signal);
      if (!got) return undefined;
      return await fn();
    } finally {
      // Whoever queues after us waits for `previous` too, through our promise.
      void previous.then(release);
    }
  }

  /**
   * Writes `frame` and waits for the first arriving frame for which `accept` returns something
   * other than IGNORE, at most `timeoutMs` (connecting included). If a reused TCP connection
   * turns out to be closed by the peer before it answered (a receiver that hangs up after every
   * answer, an idle timeout racing our write), the frame is written once more on a new
   * connection within the same time budget: DC-09 retries reuse the sequence, so a receiver that
   * did see the first copy drops the second as a duplicate.
   */
  async exchange<T>(
    frame: Buffer,
    accept: (reply: Buffer) => T | typeof IGNORE,
    opts: { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<ExchangeResult<T>> {
    const deadline = Date.now() + opts.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      await this.settle();
      const reused = this.opts.transport === 'tcp' && this.tcp !== undefined;
      const r = await this.once(frame, accept, deadline, opts.signal);
      if (!r.ok && r.failure === 'closed' && reused && attempt === 0 && Date.now() < deadline) {
        this.opts.log.debug({ target: this.target }, `DC-09 connection closed before the answer (${r.message}); resending on a new one`);
        continue;
      }
      return r;
    }
  }

  /**
   * Many receivers hang up after every answer (iobroker.sia by default): their FIN follows the
   * answer by a fraction of a millisecond to a few ms. A frame written in that gap goes into a
   * dying connection - the receiver may even read it - and has to be sent again. So a frame that
   * follows an answer on the same connection that closely waits a moment for that FIN first.
   */
  private async settle(): Promise<void> {
    if (!this.peerHangsUp || this.tcp === undefined || this.lastAnswerAt === undefined) return;
    const wait = this.lastAnswerAt + TCP_SETTLE_MS - Date.now();
    if (wait <= 0) return;
    const socket = this.tcp;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        socket.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      socket.once('close', done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiter?.fail('aborted', 'link closed');
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp && !tcp.destroyed) {
      await new Promise<void>((resolve) => {
        tcp.once('close', () => resolve());
        tcp.destroy();
      });
    }
    const udp = this.udp;
    this.udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  private once<T>(
    frame: Buffer,
    accept: (reply: Buffer) => T | typeof IGNORE,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<ExchangeResult<T>> {
    return new Promise<ExchangeResult<T>>((resolve) => {
      if (this.closed) return resolve({ ok: false, failure: 'aborted', message: 'link closed' });
      if (signal?.aborted) return resolve({ ok: false, failure: 'aborted', message: 'aborted' });
      let done = false;
      const finish = (r: ExchangeResult<T>): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (this.waiter === waiter) this.waiter = undefined;
        resolve(r);
      };
      const waiter: Waiter = {
        onFrame: (reply) => {
          let value: T | typeof IGNORE;
          try {
            value = accept(reply);
          } catch (err) {
            this.opts.log.warn({ err: errorMessage(err) }, 'DC-09 answer handler threw; answer ignored');
            return;
          }
          if (value === IGNORE) return;
          this.lastAnswerAt = Date.now();
          finish({ ok: true, value });
        },
        fail: (failure, message) => finish({ ok: false, failure, message }),
      };
      const onAbort = (): void => waiter.fail('aborted', 'aborted');
      const timer = setTimeout(
        () => waiter.fail('timeout', `no answer from ${this.target} within the ACK timeout`),
        Math.max(0, deadline - Date.now()),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = waiter;
      if (this.opts.transport === 'tcp') this.writeTcp(frame, waiter, deadline);
      else this.writeUdp(frame, waiter);
    });
  }

  private writeTcp(frame: Buffer, waiter: Waiter, deadline: number): void {
    const existing = this.tcp;
    if (existing) {
      existing.write(frame);
      return;
    }
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    this.tcp = socket;
    this.lastAnswerAt = undefined;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const splitter = new Dc09StreamSplitter();
    let connected = false;
    const connectTimer = setTimeout(() => {
      if (!connected) socket.destroy(new Error('connect timed out'));
    }, Math.max(0, deadline - Date.now()));
    socket.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      this.opts.log.debug({ target: this.target }, 'DC-09 connected');
      // The waiter may have timed out or aborted meanwhile; then there is nothing to send.
      if (this.waiter === waiter) socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const f of splitter.push(chunk)) this.deliver(f);
    });
    // The peer hung up (or half-closed): never write to this socket again.
    socket.on('end', () => {
      if (this.tcp === socket && this.lastAnswerAt !== undefined && Date.now() - this.lastAnswerAt <= TCP_SETTLE_MS) this.peerHangsUp = true;
      this.dropTcp(socket, 'closed', 'receiver closed the connection');
    });
    socket.on('error', (err) =>
      this.dropTcp(socket, connected ? 'closed' : 'error', `${connected ? 'connection' : 'connect'} failed: ${errorMessage(err)}`),
    );
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.dropTcp(socket, connected ? 'closed' : 'error', connected ? 'connection closed' : 'could not connect');
    });
  }

  private dropTcp(socket: net.Socket, failure: ExchangeFailure, message: string): void {
    if (this.tcp !== socket) return;
    this.tcp = undefined;
    socket.destroy();
    this.opts.log.debug({ target: this.target }, `DC-09 ${message}`);
    this.waiter?.fail(failure, `${this.target}: ${message}`);
  }

  private writeUdp(frame: Buffer, waiter: Waiter): void {
    const send = (socket: UdpSocket): void =>
      socket.send(frame, (err) => {
        if (err) waiter.fail('error', `${this.target}: send failed: ${errorMessage(err)}`);
      });
    const existing = this.udp;
    if (existing) {
      // A connected UDP socket can be written once connect() has called back.
      if (this.udpConnecting) this.udpConnecting.push(() => send(existing));
      else send(existing);
      return;
    }
    // Connected, so that only the receiver's datagrams reach us and an ICMP "port unreachable"
    // comes back as ECONNREFUSED at once instead of a silent ACK timeout.
    const socket = createSocket('udp4');
    this.udp = socket;
    const queue: Array<() => void> = [() => send(socket)];
    this.udpConnecting = queue;
    socket.on('message', (msg: Buffer) => {
      for (const f of new Dc09StreamSplitter().push(msg)) this.deliver(f);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const refused = err.code === 'ECONNREFUSED';
      const message = refused ? 'receiver port unreachable (ECONNREFUSED)' : `socket error: ${errorMessage(err)}`;
      this.opts.log.debug({ target: this.target }, `DC-09 UDP ${message}`);
      if (!refused && this.udp === socket) {
        // Anything else may have broken the socket: start over with a new one next time.
        this.udp = undefined;
        this.udpConnecting = undefined;
        socket.close();
      }
      this.waiter?.fail('error', `${this.target}: ${message}`);
    });
    socket.connect(this.opts.port, this.opts.host, () => {
      if (this.udpConnecting === queue) this.udpConnecting = undefined;
      for (const run of queue) run();
    });
  }

  private deliver(frame: Buffer): void {
    const w = this.waiter;
    if (w) w.onFrame(frame);
    else this.opts.log.debug({ target: this.target, frame: frame.toString('latin1').trim().slice(0, 60) }, 'DC-09 answer with no frame in flight dropped');
  }
}

/** true when `p` settled first, false when `signal` aborted first. */
function raceAbort(p: Promise<void>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return p.then(() => true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    });
  });
}
