/**
 * SIA DC-09 (ANSI/SIA DC-09-2013/2017) codec: the wire format between an alarm transmitter
 * (the gateway, later) and a monitoring-centre receiver (station/dc09-receiver.ts). Pure: no
 * sockets, no timers. See docs/dc09.md.
 */
export { crc16Arc, crcHex } from './crc.js';
export { formatTimestamp, parseTimestamp } from './timestamp.js';
export {
  buildFrame,
  parseFrame,
  wrapBody,
  MAX_BODY_LENGTH,
  MAX_FRAME_BYTES,
  MESSAGE_IDS,
  RESPONSE_IDS,
  type BuildFrameOptions,
  type Dc09ErrorCode,
  type Dc09Frame,
  type Dc09Header,
  type Dc09ParseError,
  type Dc09ParseResult,
  type ParseFrameOptions,
} from './frame.js';
export { ackFrame, nakFrame, duhFrame, nullFrame, type AckOptions, type NullFrameOptions, type RespondTo } from './responses.js';
export { contactIdData, parseContactIdData, type ContactIdEvent, type ContactIdQualifier, type DataParseResult } from './contact-id.js';
export { siaDcsData, parseSiaDcsData, type SiaDcsEvent, type SiaDcsMessage } from './sia-dcs.js';
export {
  locationFields,
  verificationField,
  locationFromExtended,
  verificationUrlFromExtended,
  type Dc09ExtField,
  type GeoLocation,
} from './extended.js';
export { cipherName, decryptContent, encryptContent } from './crypto.js';
export { Dc09StreamSplitter } from './stream-splitter.js';
