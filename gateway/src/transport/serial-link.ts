/** ByteLink over a serial port (serialport). A disconnect (USB unplug, pty gone) reports `lost`. */
import type { SerialPort } from 'serialport';
import type { ByteLink, LinkHandlers } from './byte-link.js';

export interface SerialLinkOptions {
  path: string;
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
}

// serialport (and its native binding) is loaded when the first serial port is opened: a gateway
// with only Modbus TCP buses does not carry it.
let serialportModule: Promise<typeof import('serialport')> | undefined;
const loadSerialport = (): Promise<typeof import('serialport')> => (serialportModule ??= import('serialport'));

export function serialLink(opts: SerialLinkOptions): ByteLink {
  let port: SerialPort | undefined;
  let closing = false;
  let lostReported = false;
  return {
    target: `${opts.path}@${opts.baudRate}`,
    async open(handlers: LinkHandlers) {
      const { SerialPort } = await loadSerialport();
      if (closing) throw new Error(`${opts.path}: closed while opening`);
      const p = new SerialPort({
        path: opts.path,
        baudRate: opts.baudRate,
        parity: opts.parity,
        dataBits: opts.dataBits,
        stopBits: opts.stopBits,
        autoOpen: false,
      });
      port = p;
      const lost = (reason: string): void => {
        if (closing || lostReported) return;
        lostReported = true;
        handlers.lost(reason);
      };
      // Listen for errors before anything can emit one: an unheard 'error' event ends the process.
      p.on('error', (e: Error) => {
        if (!p.isOpen) lost(e.message);
      });
      return new Promise<void>((resolve, reject) => {
        p.open((err) => {
          if (err) return reject(err);
          p.on('data', handlers.data);
          // A disconnect closes the port with `err.disconnected`; any close we did not ask for is a loss.
          p.on('close', (e: Error | null) => lost(e ? e.message : 'port closed'));
          resolve();
        });
      });
    },
    write(frame: Buffer) {
      port?.write(frame);
    },
    close() {
      closing = true;
      const p = port;
      port = undefined;
      if (!p || !p.isOpen) return Promise.resolve();
      return new Promise<void>((resolve) => p.close(() => resolve()));
    },
  };
}
