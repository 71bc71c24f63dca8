/**
 * Character rules shared by the DC-09 encoder and parser. Pure.
 *
 * DC-09 bodies are printable ASCII. `[` and `]` delimit the data and extended-data blocks and
 * `"` delimits the ID, so none of them may appear inside a field we write; LF and CR delimit
 * the whole frame.
 */
export const HEX_RE = /^[0-9A-Fa-f]+$/;

/** Printable ASCII (0x20-0x7E) without the block delimiters `[` `]`. */
export const FIELD_TEXT_RE = /^[\x20-\x5a\x5c\x5e-\x7e]*$/;

export function isHex(text: string, min: number, max: number): boolean {
  return text.length >= min && text.length <= max && HEX_RE.test(text);
}

export function isFieldText(text: string): boolean {
  return FIELD_TEXT_RE.test(text);
}

/** Every byte printable ASCII (0x20-0x7E). */
export function isPrintableAscii(buf: Uint8Array, start = 0, end = buf.length): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b < 0x20 || b > 0x7e) return false;
  }
  return true;
}
