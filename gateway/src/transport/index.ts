/** The transport layer: the only code that touches serial ports and Modbus sockets. */
export { createModbusTransport } from './modbus-transport.js';
export { createRawFrameTransport } from './raw-frame-transport.js';
export type * from './types.js';
