/**
 * CRC-16/ARC as SIA DC-09 uses it: polynomial 0x8005 processed reflected (0xA001), initial
 * value 0, no final xor. Check value for ASCII "123456789" is 0xBB3D.
 *
 * Not the Modbus CRC in protocol/crc16.ts: same polynomial, but Modbus starts from 0xFFFF and
 * the two give different results for every input, so they are kept apart on purpose.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

export function crc16Arc(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ buf[i]!) & 0xff]!;
  return crc;
}

/** The CRC as DC-09 writes it: four upper-case hex digits. */
export function crcHex(crc: number): string {
  return crc.toString(16).toUpperCase().padStart(4, '0');
}
