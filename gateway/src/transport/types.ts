/**
 * The transport contract. Only gateway/src/transport/ imports serialport or modbus-serial;
 * everything above sees these interfaces. Every implementation guarantees exactly one request
 * in flight per physical bus (an internal FIFO lock), the configured silence between frames,
 * per-request timeouts, and reopening a lost port or connection on its own.
 */
import type { ModbusTable } from '../profiles/schema.js';

export type TransportState = 'opening' | 'open' | 'closed';

export interface TransportStats {
  requests: number;
  responses: number;
  timeouts: number;
  crcErrors: number;
  frameErrors: number;
  exceptions: number;
  reopens: number;
  /** Sum of wire-busy time (ms) as computed from frame sizes and baud, for bus utilisation. */
  wireMs: number;
}

export interface ReadResult {
  /** Registers (holding/input) or bits as 0/1 (coil/discrete), `count` long. */
  values: number[];
  /** Request and response bytes as sent/received (RTU: with CRC; TCP: with MBAP), for `shouwang read`. */
  request: Buffer;
  response: Buffer;
  /** From request written to response parsed, ms. */
  elapsedMs: number;
}

/**
 * The outcome of a read in callback form: an error, or the registers (holding/input) or bits
 * as 0/1 (coil/discrete), and the transaction time, ms.
 */
export type ReadCallback = (err: Error | undefined, values: number[] | undefined, elapsedMs: number) => void;

export interface TransportEvents {
  state: (state: TransportState, reason?: string) => void;
}

export interface ModbusTransport {
  readonly id: string;
  readonly state: TransportState;
  /** Opens now and keeps reopening after loss until close(). Resolves on the first successful open or rejects with the first error. */
  open(): Promise<void>;
  close(): Promise<void>;
  read(unitId: number, table: ModbusTable, address: number, count: number, opts?: { timeoutMs?: number }): Promise<ReadResult>;
  /**
   * read() for pollers running thousands of reads a second: the values only, to a callback
   * called exactly once and never before readWith returns (no promise, no result object, no
   * copies of the frames). Optional: pollers fall back to read().
   */
  readWith?(unitId: number, table: ModbusTable, address: number, count: number, timeoutMs: number | undefined, done: ReadCallback): void;
  /** Write coils (booleans/0-1) or holding registers. One value uses FC05/FC06, several FC15/FC16. */
  write(unitId: number, table: 'coil' | 'holding', address: number, values: readonly number[], opts?: { timeoutMs?: number }): Promise<void>;
  stats(): TransportStats;
  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): void;
  off<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): void;
}

/** A decoded raw-serial frame (e.g. lock board `57 4B 4C 59 | len | addr | cmd | data | XOR`). */
export interface RawFrame {
  address: number;
  command: number;
  data: Buffer;
  raw: Buffer;
}

export interface RawFrameTransportEvents extends TransportEvents {
  /** A valid frame that was not the reply to a pending request: an unsolicited push. */
  push: (frame: RawFrame) => void;
}

export interface RawFrameTransport {
  readonly id: string;
  readonly state: TransportState;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Send one frame and wait for the reply from `address` with command `replyCommand`. */
  request(address: number, command: number, data: readonly number[], replyCommand: number, opts?: { timeoutMs?: number }): Promise<RawFrame>;
  stats(): TransportStats;
  on<E extends keyof RawFrameTransportEvents>(event: E, listener: RawFrameTransportEvents[E]): void;
  off<E extends keyof RawFrameTransportEvents>(event: E, listener: RawFrameTransportEvents[E]): void;
}
