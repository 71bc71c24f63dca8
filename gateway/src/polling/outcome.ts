/**
 * What a failed transaction means for the device. Timeouts, CRC/frame errors and a closed
 * transport say "no usable answer" and count towards the breaker; a Modbus exception reply
 * says "alive, but this read is refused" and does not.
 */
import { ErrorCodes, errorMessage } from '../errors.js';

export type FailureClass =
  | { kind: 'failure'; reason: string }
  | { kind: 'exception'; reason: string }
  /** Our own request was refused before it reached the wire (bad payload): says nothing about the device. */
  | { kind: 'local'; reason: string };

export function classifyError(err: unknown): FailureClass {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  switch (code) {
    case ErrorCodes.TRANSPORT_TIMEOUT:
      return { kind: 'failure', reason: 'timeout' };
    case ErrorCodes.TRANSPORT_CRC:
      return { kind: 'failure', reason: 'crc' };
    case ErrorCodes.TRANSPORT_FRAME:
      return { kind: 'failure', reason: 'frame' };
    case ErrorCodes.TRANSPORT_CLOSED:
      return { kind: 'failure', reason: 'transport closed' };
    case ErrorCodes.PAYLOAD_INVALID:
    case ErrorCodes.CONFIG_INVALID:
      return { kind: 'local', reason: `invalid request: ${errorMessage(err)}` };
    case ErrorCodes.MODBUS_EXCEPTION:
      return { kind: 'exception', reason: `exception: ${errorMessage(err)}` };
    default:
      return { kind: 'failure', reason: `error: ${errorMessage(err)}` };
  }
}
