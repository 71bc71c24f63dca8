/**
 * createModbusTransport: Modbus RTU on a serial port, Modbus TCP, and RTU over TCP, behind the
 * ModbusTransport contract (one request in flight per bus, silence between frames, timeouts,
 * automatic reopen).
 *
 * Own framing on serialport / net, not modbus-serial's clients: its RTU client writes as soon as
 * it is called (no silence, no queue: concurrent calls overwrite one transaction slot), its
 * buffered port never clears its buffer between requests and takes the first unit+FC match
 * anywhere in it (a late reply is taken for the next request), its TCP port drops the MBAP
 * header on receive (we must return the raw reply), pending requests wait for their timeouts
 * when the link closes, and nothing reopens a lost port.
 */
import type { BusConfig } from '../config/schema.js';
import { ErrorCodes, ShouwangError } from '../errors.js';
import type { Logger } from '../log.js';
import { isBitTable, readFunctionFor, writeRequestPdu } from '../protocol/modbus-pdu.js';
import { wireTimeMs } from '../protocol/wire-timing.js';
import type { ModbusTable } from '../profiles/schema.js';
import { BusChannel } from './bus-channel.js';
import { interFrameSilence, lineBaud, linkFor } from './bus-links.js';
import type { FramingContext, ModbusFraming, ModbusReply, PreparedRequest } from './modbus-framing.js';
import { rtuFraming } from './modbus-rtu-framing.js';
import { mbapFraming } from './modbus-tcp-framing.js';
import type { ModbusTransport, ReadCallback, ReadResult, TransportEvents, TransportState, TransportStats } from './types.js';

/** Modbus limits per request (spec: 125 registers / 2000 bits read, 123 registers / 1968 coils written). */
const LIMITS = { readRegisters: 125, readBits: 2000, writeRegisters: 123, writeCoils: 1968 } as const;

/** Scratch for read request PDUs, shared by all buses: framings copy the PDU into their ADU at once and keep no reference to it. */
const readPduScratch = Buffer.alloc(5);

function invalid(busId: string, message: string): ShouwangError {
  return new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `bus ${busId}: ${message}`);
}

class ModbusBusTransport implements ModbusTransport {
  readonly id: string;
  private readonly channel: BusChannel;
  private readonly framing: ModbusFraming;
  private readonly baud: number | undefined;
  private readonly isRtu: boolean;

  constructor(
    private readonly bus: BusConfig,
    log: Logger,
  ) {
    this.id = bus.id;
    this.baud = lineBaud(bus);
    this.isRtu = bus.type !== 'tcp';
    const ctx: FramingContext = { busId: bus.id, countFrameError: () => this.channel.count.frameErrors++ };
    const silence = interFrameSilence(bus);
    this.framing = this.isRtu ? rtuFraming(ctx, silence) : mbapFraming(ctx);
    this.channel = new BusChannel({
      id: bus.id,
      link: linkFor(bus),
      reconnectMs: bus.reconnect,
      silenceMs: silence,
      baudRate: this.baud,
      log: log.child({ module: 'transport', bus: bus.id, type: bus.type }),
      onIdleData: (chunk) => this.framing.onIdle(chunk),
      onOpened: () => this.framing.onOpened(),
    });
  }

  get state(): TransportState {
    return this.channel.state;
  }

  open(): Promise<void> {
    return this.channel.open();
  }

  close(): Promise<void> {
    return this.channel.close();
  }

  stats(): TransportStats {
    return this.channel.stats();
  }

  on<E extends keyof TransportEvents>(_event: E, listener: TransportEvents[E]): void {
    this.channel.onState(listener);
  }

  off<E extends keyof TransportEvents>(_event: E, listener: TransportEvents[E]): void {
    this.channel.offState(listener);
  }

  /**
   * Not an async function: at thousands of reads per second its frame and the extra promise per
   * read were a large share of the gateway's garbage. Argument errors still come back as a
   * rejected promise, never as a throw.
   */
  read(unitId: number, table: ModbusTable, address: number, count: number, opts?: { timeoutMs?: number }): Promise<ReadResult> {
    let prepared: PreparedRequest;
    try {
      prepared = this.prepareRead(unitId, table, address, count);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.channel
      .exchange(prepared.adu, prepared, this.timeoutFor(prepared, opts?.timeoutMs))
      .then(({ value: response, elapsedMs }) => ({ values: this.readValues(table, count, response), request: prepared.adu, response, elapsedMs }));
  }

  readWith(unitId: number, table: ModbusTable, address: number, count: number, timeoutMs: number | undefined, done: ReadCallback): void {
    let prepared: PreparedRequest;
    try {
      prepared = this.prepareRead(unitId, table, address, count);
    } catch (err) {
      queueMicrotask(() => done(err as Error, undefined, 0));
      return;
    }
    this.channel.exchangeWith<ModbusReply>(prepared.adu, prepared, this.timeoutFor(prepared, timeoutMs), (err, response, elapsedMs) => {
      if (err) done(err, undefined, elapsedMs);
      else done(undefined, this.readValues(table, count, response!), elapsedMs);
    });
  }

  private prepareRead(unitId: number, table: ModbusTable, address: number, count: number): PreparedRequest {
    this.checkUnit(unitId);
    const max = isBitTable(table) ? LIMITS.readBits : LIMITS.readRegisters;
    this.checkRange(address, count, max, `read of ${table}`);
    return this.framing.prepare(unitId, this.readRequestPdu(table, address, count));
  }

  /**
   * The values of a read reply (what protocol/modbus-pdu parseReadReply gives), read in place
   * from the reply frame into an array of the right size: no PDU slice, no array growing.
   */
  private readValues(table: ModbusTable, count: number, response: Buffer): number[] {
    const data = this.framing.pduOffset + 2; // function code, byte count
    const out = new Array<number>(count);
    if (isBitTable(table)) for (let i = 0; i < count; i++) out[i] = (response[data + (i >> 3)]! >> (i & 7)) & 1;
    else for (let i = 0; i < count; i++) out[i] = (response[data + 2 * i]! << 8) | response[data + 2 * i + 1]!;
    return out;
  }

  async write(unitId: number, table: 'coil' | 'holding', address: number, values: readonly number[], opts?: { timeoutMs?: number }): Promise<void> {
    this.checkUnit(unitId);
    this.checkRange(address, values.length, table === 'coil' ? LIMITS.writeCoils : LIMITS.writeRegisters, `write of ${table}`);
    values.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw invalid(this.id, `value[${i}] ${v} is not a 16-bit unsigned integer`);
    });
    const prepared = this.framing.prepare(unitId, writeRequestPdu(table, address, values));
    await this.channel.exchange(prepared.adu, prepared, this.timeoutFor(prepared, opts?.timeoutMs));
  }

  private timeoutFor(prepared: PreparedRequest, timeoutOverride: number | undefined): number {
    // The slave cannot start answering before the request is on the wire, and the reply takes
    // its own wire time: the configured timeout is the slave's turnaround on top of those.
    const wire = this.baud === undefined ? 0 : wireTimeMs(prepared.wireBytes, this.baud);
    return (timeoutOverride ?? this.bus.timeout) + wire;
  }

  /** PDU of a read request (as protocol/modbus-pdu readRequestPdu builds it), in the scratch buffer: no allocation per read. */
  private readRequestPdu(table: ModbusTable, address: number, count: number): Buffer {
    const pdu = readPduScratch;
    pdu[0] = readFunctionFor[table];
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(count, 3);
    return pdu;
  }

  private checkUnit(unitId: number): void {
    const min = this.isRtu ? 1 : 0; // unit 0 is broadcast on a serial line: nobody answers
    const max = this.isRtu ? 247 : 255;
    if (!Number.isInteger(unitId) || unitId < min || unitId > max) throw invalid(this.id, `unit id ${unitId} is not ${min}-${max}`);
  }

  private checkRange(address: number, count: number, max: number, what: string): void {
    if (!Number.isInteger(address) || address < 0 || address > 0xffff) throw invalid(this.id, `${what}: address ${address} is not 0-65535`);
    if (!Number.isInteger(count) || count < 1 || count > max) throw invalid(this.id, `${what}: count ${count} is not 1-${max}`);
    if (address + count > 0x10000) throw invalid(this.id, `${what}: ${address}+${count} runs past address 65535`);
  }
}

export function createModbusTransport(bus: BusConfig, log: Logger): ModbusTransport {
  if (bus.type === 'raw-serial') {
    throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `bus ${bus.id} is raw-serial: use createRawFrameTransport, not Modbus`);
  }
  return new ModbusBusTransport(bus, log);
}
